from __future__ import annotations

import numpy as np
import pytest

from avemotion.features.media import MediaError, decode_audio, demux, iter_video_frames, probe


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


# ------------------------------------------------------------------------------ one pass: demux


def _separate(path, **kw):
    a = decode_audio(path, start=kw.get("start", 0.0), end=kw.get("end"))
    v = list(iter_video_frames(path, **kw))
    return a, v


def _assert_same(d, a, v) -> None:
    frames = list(d)
    assert [t for t, _ in frames] == [t for t, _ in v]
    for (_, x), (_, y) in zip(frames, v, strict=True):
        np.testing.assert_array_equal(x, y)
    got = d.audio
    np.testing.assert_array_equal(got.samples, a.samples)
    assert (got.source_rate, got.source_channels) == (a.source_rate, a.source_channels)


@pytest.mark.parametrize(
    "kw",
    [{}, {"fps": 5.0, "start": 0.5, "end": 1.9}, {"fps": 3.0, "start": 1.0}, {"fps": 25.0, "end": 1.0}],
)
def test_demux_equals_decode_audio_and_iter_video_frames(media, kw) -> None:
    """face_av: H.264 + AAC at 22.05 kHz (resampled), whole clip and ranges."""
    a, v = _separate(media["face_av"], **kw)
    assert a.samples.size > 0 and v
    _assert_same(demux(media["face_av"], **kw), a, v)


def test_demux_real_clip() -> None:
    """samples/demo_clip.mp4 (real AMI speech over a real face photo), 12 s, 25 fps -> 5 fps."""
    from pathlib import Path

    clip = Path(__file__).resolve().parents[2] / "samples" / "demo_clip.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} not found")
    a, v = _separate(clip, fps=5.0)
    assert len(v) == 60 and a.samples.size == pytest.approx(12 * 16000, abs=1600)
    with demux(clip, fps=5.0) as d:
        assert d.info == probe(clip)
        _assert_same(d, a, v)
    a, v = _separate(clip, fps=5.0, start=6.3, end=7.7)
    _assert_same(demux(clip, fps=5.0, start=6.3, end=7.7), a, v)


def test_demux_one_stream_and_audio_first(media) -> None:
    d = demux(media["speech"], video=False)  # a WAV: audio only
    np.testing.assert_array_equal(d.audio.samples, decode_audio(media["speech"]).samples)
    v = list(iter_video_frames(media["noaudio"]))
    assert v and [t for t, _ in demux(media["noaudio"], audio=False)] == [t for t, _ in v]
    # asking for the audio first finishes the pass (frames dropped); the audio is the same
    d = demux(media["face_av"])
    np.testing.assert_array_equal(d.audio.samples, decode_audio(media["face_av"]).samples)
    with pytest.raises(RuntimeError, match="read once"):
        list(d)
    with pytest.raises(ValueError, match="audio=False"):
        _ = demux(media["noaudio"], audio=False).audio


def test_demux_errors(media) -> None:
    with pytest.raises(MediaError) as e:
        demux(media["noaudio"])
    assert e.value.kind == "no_audio"
    with pytest.raises(MediaError) as e:
        demux(media["speech"])
    assert e.value.kind == "no_video"
    for name, kind in (("empty", "empty"), ("corrupt", "unreadable")):
        with pytest.raises(MediaError) as e:
            demux(media[name])
        assert e.value.kind == kind
    with pytest.raises(MediaError) as e:
        demux(media["lowrate"], video=False)
    assert e.value.kind == "bad_sample_rate"
    with pytest.raises(MediaError) as e:
        demux(media["face_av"], start=1.0, end=0.5)
    assert e.value.kind == "bad_range"
    with pytest.raises(ValueError, match="fps"):
        demux(media["face_av"], fps=0)
    with pytest.raises(ValueError, match="audio, video or both"):
        demux(media["face_av"], audio=False, video=False)
