from __future__ import annotations

import numpy as np
import pytest

from avemotion.features.media import MediaError, decode_audio, iter_video_frames, probe


def test_audio_range_matches_full_decode(media, shared_data) -> None:
    ami = shared_data / "ami" / "ES2011a.Headset-0-40s-46s.wav"  # 16 kHz PCM: exact
    full = decode_audio(ami).samples
    np.testing.assert_array_equal(decode_audio(ami, start=0.5, end=1.5).samples, full[8000:24000])
    full = decode_audio(
        media["speech"]
    ).samples  # 22.05 kHz, resampled: same up to sub-sample phase
    part = decode_audio(media["speech"], start=0.5, end=1.5).samples
    assert part.size == 16000
    assert np.corrcoef(part, full[8000:24000])[0, 1] > 0.999


def test_aac_range_in_mp4_is_time_aligned(media) -> None:
    full = decode_audio(media["face_av"]).samples
    part = decode_audio(media["face_av"], start=1.0, end=2.0).samples
    assert part.size == 16000
    ref = full[16000:32000]
    assert np.corrcoef(part, ref)[0, 1] > 0.99


def test_probe_and_errors(media) -> None:
    info = probe(media["face_av"])
    assert info.has_audio and info.has_video and info.audio_rate == 22050 and info.video_fps == 25
    with pytest.raises(MediaError) as e:
        decode_audio(media["noaudio"])
    assert e.value.kind == "no_audio" and str(media["noaudio"]) in str(e.value)
    with pytest.raises(MediaError) as e:
        list(iter_video_frames(media["speech"]))
    assert e.value.kind == "no_video"
    for name, kind in (("empty", "empty"), ("corrupt", "unreadable")):
        with pytest.raises(MediaError) as e:
            decode_audio(media[name])
        assert e.value.kind == kind
    with pytest.raises(MediaError) as e:
        decode_audio(media["lowrate"])
    assert e.value.kind == "bad_sample_rate" and "4000 Hz" in str(e.value)
    with pytest.raises(MediaError) as e:
        decode_audio(media["tone"], start=1.0, end=0.5)
    assert e.value.kind == "bad_range"
    with pytest.raises(ValueError, match="fps"):
        list(iter_video_frames(media["face_av"], fps=0))
