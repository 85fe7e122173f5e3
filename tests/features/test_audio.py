from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from avemotion.features import audio as A
from avemotion.features.media import decode_audio

SR = A.SAMPLE_RATE


@pytest.fixture(scope="module")
def runner() -> A.SmileWindowRunner:
    r = A.SmileWindowRunner()
    yield r
    r.close()


@pytest.fixture(scope="module")
def ami(shared_data) -> np.ndarray:
    return decode_audio(shared_data / "ami" / "ES2011a.Headset-0-40s-46s.wav", end=3.0).samples


def test_feature_names_match_opensmile() -> None:
    opensmile = pytest.importorskip("opensmile")
    smile = opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.Functionals)
    assert list(A.EGEMAPS_NAMES) == list(smile.feature_names)
    assert len(A.AUDIO_FEATURE_NAMES) == A.AUDIO_DIM == 89
    assert A.AUDIO_FEATURE_NAMES[-1] == "rms_dbfs"


def test_batch_equals_per_window_process_signal(
    ami: np.ndarray, runner: A.SmileWindowRunner
) -> None:
    opensmile = pytest.importorskip("opensmile")
    smile = opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.Functionals)
    feats = A.extract_audio(ami, SR, runner=runner)
    assert feats.steps.shape == (21, 89) and feats.steps.dtype == np.float32
    np.testing.assert_allclose(feats.times, 1.0 + 0.1 * np.arange(21), atol=1e-12)
    for k in (0, 7, 20):
        s = int(round((feats.times[k] - 1.0) * SR))
        ref = smile.process_signal(ami[s : s + SR], SR).to_numpy()[0]
        np.testing.assert_array_equal(feats.steps[k, :88], ref)
        rms = np.sqrt(np.mean(ami[s : s + SR].astype(np.float64) ** 2))
        assert feats.steps[k, 88] == pytest.approx(20 * np.log10(rms), abs=1e-4)


@pytest.mark.parametrize("chunk", [1600, 777, 16000 * 3])
def test_streaming_equals_batch(ami: np.ndarray, runner: A.SmileWindowRunner, chunk: int) -> None:
    batch = A.extract_audio(ami, SR, runner=runner)
    times, steps = [], []
    with A.AudioStreamExtractor(1.0, 0.1) as stream:
        assert stream.push(np.zeros(0, np.float32))[1].shape == (0, 89)
        for i in range(0, ami.size, chunk):
            t, s = stream.push(ami[i : i + chunk])
            assert s.shape == (t.size, 89)
            times.append(t)
            steps.append(s)
        assert stream._buf.size < SR  # bounded memory
    np.testing.assert_array_equal(np.concatenate(times), batch.times)
    np.testing.assert_array_equal(np.concatenate(steps), batch.steps)


def test_stream_t0_offsets_times() -> None:
    with A.AudioStreamExtractor(0.5, 0.25, t0=10.0) as stream:
        t, s = stream.push(np.zeros(SR, np.float32))
    np.testing.assert_allclose(t, [10.5, 10.75, 11.0])
    assert np.all(s[:, 88] == A.RMS_FLOOR_DB)


def test_known_signals(media, runner: A.SmileWindowRunner) -> None:
    def feats(name: str) -> np.ndarray:
        return A.extract_audio(
            decode_audio(media[name]).samples, SR, hop_s=0.5, runner=runner
        ).steps

    names = A.AUDIO_FEATURE_NAMES
    f0 = names.index("F0semitoneFrom27.5Hz_sma3nz_amean")
    loud = names.index("loudness_sma3_amean")
    silence, tone, speech = feats("silence"), feats("tone"), feats("speech")
    assert np.all(silence[:, 88] == A.RMS_FLOOR_DB)
    assert np.all(silence[:, loud] < 0.01)
    # a 220 Hz sine: RMS -3 dBFS + ffmpeg's default amplitude 1/8 -> about -21 dBFS, F0 near 220 Hz
    assert np.all(np.abs(tone[:, 88] - (20 * np.log10(0.125 / np.sqrt(2)))) < 0.5)
    semitones_220 = 12 * np.log2(220 / 27.5)
    assert np.all(np.abs(tone[:, f0] - semitones_220) < 1.0)
    assert speech.shape[0] >= 4 and np.all(np.isfinite(speech))
    assert speech[:, loud].max() > silence[:, loud].max() + 0.1
    assert np.std(speech[:, 88]) > np.std(tone[:, 88])  # speech level varies, a tone's does not


def test_short_signal_gives_no_steps(runner: A.SmileWindowRunner) -> None:
    f = A.extract_audio(np.zeros(SR // 2, np.float32), SR, runner=runner)
    assert f.steps.shape == (0, 89) and f.times.shape == (0,)


def test_resampling_and_mixdown(media) -> None:
    x = decode_audio(media["stereo44k"])
    assert x.source_rate == 44100 and x.source_channels == 2
    assert abs(x.samples.size - int(1.5 * SR)) <= 2
    # the same thing done through extract_audio's own resampler on raw 44.1 kHz input
    t = np.arange(int(1.5 * 44100)) / 44100
    y = 0.125 * np.sin(2 * np.pi * 330 * t)
    f = A.extract_audio(np.stack([y, y]), 44100, hop_s=0.25)
    assert f.steps.shape == (3, 89)
    assert abs(f.steps[0, 88] - 20 * np.log10(0.125 / np.sqrt(2))) < 0.2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window_s": 0}, "window_s"),
        ({"hop_s": -1.0}, "hop_s"),
        ({"window_s": float("nan")}, "window_s"),
    ],
)
def test_bad_settings(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        A.extract_audio(np.zeros(SR, np.float32), SR, **kwargs)


def test_bad_signals() -> None:
    with pytest.raises(ValueError, match="NaN"):
        A.extract_audio(np.full(SR, np.nan, np.float32), SR)
    with pytest.raises(ValueError, match="shape"):
        A.extract_audio(np.zeros((2, 2, 2), np.float32), SR)
    with pytest.raises(ValueError, match="sampling_rate"):
        A.extract_audio(np.zeros(SR, np.float32), 0)
    with A.AudioStreamExtractor() as s, pytest.raises(ValueError, match="1-D"):
        s.push(np.zeros((2, 10), np.float32))


@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None, reason="needs tensorflow to show the import-order guard"
)
def test_opensmile_after_tensorflow_is_refused_not_a_crash() -> None:
    """openSMILE's library segfaults when loaded after TensorFlow: a clear RuntimeError instead."""
    code = (
        "import tensorflow\n"
        "from avemotion.features.audio import import_opensmile\n"
        "try:\n    import_opensmile()\nexcept RuntimeError as e:\n    print('REFUSED', e)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "REFUSED" in res.stdout and "separate process" in res.stdout


def test_parallel_batch_is_bit_identical(shared_data) -> None:
    """Several openSMILE instances in threads give exactly the single-instance steps."""
    import soundfile as sf

    x, sr = sf.read(shared_data / "ami" / "ES2011a.Headset-0-40s-46s.wav", dtype="float32")
    one = A.extract_audio(x, sr, workers=1)
    three = A.extract_audio(x, sr, workers=3)
    assert len(one) == 51
    np.testing.assert_array_equal(one.steps, three.steps)
    np.testing.assert_array_equal(one.times, three.times)
    with pytest.raises(ValueError, match="workers"):
        A.extract_audio(x, sr, workers=0)
