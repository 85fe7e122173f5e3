from __future__ import annotations

import gc
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avemotion.features import audio as A
from avemotion.features.media import decode_audio

SR = A.SAMPLE_RATE
NAMES = A.AUDIO_FEATURE_NAMES
LEQ = NAMES.index("equivalentSoundLevel_dBp")
PEAKS = NAMES.index("loudnessPeaksPerSec")


@pytest.fixture(scope="module")
def runner() -> A.SmileWindowRunner:
    r = A.SmileWindowRunner()
    yield r
    r.close()


@pytest.fixture(scope="module")
def ami(shared_data) -> np.ndarray:
    return decode_audio(shared_data / "ami" / "ES2011a.Headset-0-40s-46s.wav", end=3.0).samples


@pytest.fixture(scope="module")
def ami6(shared_data) -> np.ndarray:
    return decode_audio(shared_data / "ami" / "ES2011a.Headset-0-40s-46s.wav").samples


@pytest.fixture(scope="module")
def sliding_ami(ami: np.ndarray) -> A.AudioFeatures:
    return A.extract_audio(ami, SR)


def _stream(x: np.ndarray, chunks: list[int], **kw) -> tuple[np.ndarray, np.ndarray, int]:
    """Times and steps of ``x`` pushed in ``chunks`` (the rest in one push), then finish();
    and how many steps came before finish()."""
    times, steps = [], []
    with A.AudioStreamExtractor(**kw) as stream:
        i = 0
        for c in [*chunks, x.size]:
            t, s = stream.push(x[i : i + c])
            assert s.shape == (t.size, 89) and s.dtype == np.float32
            times.append(t)
            steps.append(s)
            i += c
        before = sum(t.size for t in times)
        t, s = stream.finish()
        times.append(t)
        steps.append(s)
    return np.concatenate(times), np.concatenate(steps), before


def test_feature_names_match_opensmile() -> None:
    opensmile = pytest.importorskip("opensmile")
    smile = opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.Functionals)
    assert list(A.EGEMAPS_NAMES) == list(smile.feature_names)
    assert len(A.AUDIO_FEATURE_NAMES) == A.AUDIO_DIM == 89
    assert A.AUDIO_FEATURE_NAMES[-1] == "rms_dbfs"
    assert A.DEFAULT_MODE == "sliding" and set(A.AUDIO_MODES) == {"sliding", "window"}


def test_sliding_config_ships_in_the_package() -> None:
    # wheel.packages copies python/avemotion whole: the .conf files travel with audio.py
    assert A.SLIDING_CONFIG.parent == Path(A.__file__).parent / "opensmile"
    for name in ("egemaps_v02_sliding.conf", "sliding_functionals.conf.inc", "lld_ring_buffer.conf.inc"):
        assert (A.CONFIG_DIR / name).is_file()


# ------------------------------------------------------------------------------ mode "window"


def test_window_mode_equals_per_window_process_signal(
    ami: np.ndarray, runner: A.SmileWindowRunner
) -> None:
    opensmile = pytest.importorskip("opensmile")
    smile = opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.Functionals)
    feats = A.extract_audio(ami, SR, mode="window", runner=runner)
    assert feats.config.mode == "window"
    assert feats.steps.shape == (21, 89) and feats.steps.dtype == np.float32
    np.testing.assert_allclose(feats.times, 1.0 + 0.1 * np.arange(21), atol=1e-12)
    for k in (0, 7, 20):
        s = int(round((feats.times[k] - 1.0) * SR))
        ref = smile.process_signal(ami[s : s + SR], SR).to_numpy()[0]
        np.testing.assert_array_equal(feats.steps[k, :88], ref)
        rms = np.sqrt(np.mean(ami[s : s + SR].astype(np.float64) ** 2))
        assert feats.steps[k, 88] == pytest.approx(20 * np.log10(rms), abs=1e-4)


@pytest.mark.parametrize("chunk", [1600, 777, 16000 * 3])
def test_window_mode_streaming_equals_batch(
    ami: np.ndarray, runner: A.SmileWindowRunner, chunk: int
) -> None:
    batch = A.extract_audio(ami, SR, mode="window", runner=runner)
    with A.AudioStreamExtractor(1.0, 0.1, mode="window") as stream:
        assert stream.push(np.zeros(0, np.float32))[1].shape == (0, 89)
        parts = [stream.push(ami[i : i + chunk]) for i in range(0, ami.size, chunk)]
        assert stream._buf.size < SR  # bounded memory
        tail = stream.finish()
    assert tail[0].size == 0  # every window came with the push that completed it
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), batch.times)
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), batch.steps)


def test_parallel_batch_is_bit_identical(shared_data) -> None:
    """Several openSMILE instances in threads give exactly the single-instance steps."""
    import soundfile as sf

    x, sr = sf.read(shared_data / "ami" / "ES2011a.Headset-0-40s-46s.wav", dtype="float32")
    one = A.extract_audio(x, sr, mode="window", workers=1)
    three = A.extract_audio(x, sr, mode="window", workers=3)
    assert len(one) == 51
    np.testing.assert_array_equal(one.steps, three.steps)
    np.testing.assert_array_equal(one.times, three.times)
    with pytest.raises(ValueError, match="workers"):
        A.extract_audio(x, sr, mode="window", workers=0)


# ----------------------------------------------------------------------------- mode "sliding"


def test_sliding_steps_keep_their_extent(
    ami6: np.ndarray, runner: A.SmileWindowRunner
) -> None:
    """Same step count and times as per-window analysis; the 20 ms-frame functionals that need no
    context (Leq, loudness peaks per second) are exactly the per-window ones, so each window covers
    exactly the 99 LLD frames of 20 ms inside [t - 1, t] (a 1.05 s window would not match)."""
    sl = A.extract_audio(ami6, SR)
    win = A.extract_audio(ami6, SR, mode="window", runner=runner)
    assert sl.config.mode == "sliding" and len(sl) == len(win) == 51
    np.testing.assert_array_equal(sl.times, win.times)
    np.testing.assert_array_equal(sl.steps[:, LEQ], win.steps[:, LEQ])
    np.testing.assert_array_equal(sl.steps[:, PEAKS], win.steps[:, PEAKS])
    np.testing.assert_array_equal(sl.steps[:, 88], win.steps[:, 88])  # RMS column: same samples


def test_sliding_f0_functionals_cover_the_60ms_frames_inside_the_window() -> None:
    """A steady tone is voiced in every frame: one voiced segment per window, normalised by the
    window's 95 LLD frames of 60 ms (1.0 s - 50 ms), 94 frame steps long."""
    t = np.arange(3 * SR) / SR
    f = A.extract_audio((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SR)
    assert len(f) == 21
    np.testing.assert_allclose(f.steps[:, NAMES.index("VoicedSegmentsPerSec")], 1 / 0.95, rtol=1e-6)
    np.testing.assert_allclose(
        f.steps[:, NAMES.index("MeanVoicedSegmentLengthSec")], 0.94, rtol=1e-6
    )
    semitones_220 = 12 * np.log2(220 / 27.5)
    assert np.all(np.abs(f.steps[:, NAMES.index("F0semitoneFrom27.5Hz_sma3nz_amean")] - semitones_220) < 0.5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sliding_streaming_equals_batch_for_random_chunkings(
    ami: np.ndarray, sliding_ami: A.AudioFeatures, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    sizes = [0, 1, 159, 160, 1600, 4000, 20000]
    chunks = [int(rng.choice(sizes)) if rng.random() < 0.3 else int(rng.integers(1, 6000)) for _ in range(40)]
    times, steps, _ = _stream(ami, chunks, max_wait_s=0.0)
    np.testing.assert_array_equal(times, sliding_ami.times)
    np.testing.assert_array_equal(steps, sliding_ami.steps)


def test_sliding_push_returns_steps_once_openSMILE_has_them(
    ami: np.ndarray, sliding_ami: A.AudioFeatures
) -> None:
    """With a generous wait, a push returns every step whose window ended more than 0.5 s ago
    (F0's Viterbi smoother holds frames back at most 40 frames); finish() gives the rest."""
    with A.AudioStreamExtractor(max_wait_s=60.0, t0=5.0) as stream:
        t, s = stream.push(ami[: 2 * SR])
        assert t.size >= 6  # windows ending at 1.0 ... 1.5 s at the least
        np.testing.assert_array_equal(s, sliding_ami.steps[: t.size])
        np.testing.assert_allclose(t, 5.0 + sliding_ami.times[: t.size])
        t2, s2 = stream.push(ami[2 * SR :])
        t3, s3 = stream.finish()
        with pytest.raises(RuntimeError, match="finished"):
            stream.push(ami[:10])
    np.testing.assert_array_equal(np.concatenate([s, s2, s3]), sliding_ami.steps)
    assert stream._buf.size < SR  # bounded memory


@pytest.mark.parametrize("n", [SR - 1, SR, SR + 1, SR + 159, SR + 160, SR + 1599, SR + 1600, SR + 1919])
def test_sliding_counts_only_complete_windows(ami: np.ndarray, n: int) -> None:
    """Lengths around window and hop edges: steps of complete windows only, as in mode "window"
    (at end of input openSMILE can close one more window with its repeated last LLD frame)."""
    f = A.extract_audio(ami[:n], SR)
    expected = 0 if n < SR else (n - SR) // 1600 + 1
    assert len(f) == expected
    np.testing.assert_allclose(f.times, 1.0 + 0.1 * np.arange(expected))
    assert np.all(np.isfinite(f.steps))


def test_sliding_agrees_with_per_window_on_real_speech(
    ami6: np.ndarray, runner: A.SmileWindowRunner
) -> None:
    """A coarse guard of the agreement measured in benchmarks/bench_audio.py (README table)."""
    sl = A.extract_audio(ami6, SR).steps
    win = A.extract_audio(ami6, SR, mode="window", runner=runner).steps
    corr = np.array([np.corrcoef(sl[:, i], win[:, i])[0, 1] for i in range(88) if win[:, i].std() > 0])
    assert np.median(corr) > 0.99
    amean = [i for i, n in enumerate(NAMES) if n.endswith("_amean")]
    assert np.median([np.corrcoef(sl[:, i], win[:, i])[0, 1] for i in amean]) > 0.995


def test_unclosed_stream_is_stopped_by_the_garbage_collector(ami: np.ndarray) -> None:
    stream = A.AudioStreamExtractor()
    stream.push(ami[:SR])
    thread = stream._sliding._thread.thread
    assert thread.is_alive()
    del stream
    gc.collect()
    thread.join(60)
    assert not thread.is_alive()


# ----------------------------------------------------------------------------- both modes


@pytest.mark.parametrize("mode", ["sliding", "window"])
def test_stream_t0_offsets_times(mode: str) -> None:
    with A.AudioStreamExtractor(0.5, 0.25, t0=10.0, mode=mode) as stream:
        t, s = stream.push(np.zeros(SR, np.float32))
        t2, s2 = stream.finish()
    np.testing.assert_allclose(np.concatenate([t, t2]), [10.5, 10.75, 11.0])
    assert np.all(np.concatenate([s, s2])[:, 88] == A.RMS_FLOOR_DB)


@pytest.mark.parametrize("mode", ["sliding", "window"])
def test_known_signals(media, mode: str) -> None:
    def feats(name: str) -> np.ndarray:
        return A.extract_audio(decode_audio(media[name]).samples, SR, hop_s=0.5, mode=mode).steps

    f0 = NAMES.index("F0semitoneFrom27.5Hz_sma3nz_amean")
    loud = NAMES.index("loudness_sma3_amean")
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


@pytest.mark.parametrize("mode", ["sliding", "window"])
def test_short_signal_gives_no_steps(mode: str) -> None:
    f = A.extract_audio(np.zeros(SR // 2, np.float32), SR, mode=mode)
    assert f.steps.shape == (0, 89) and f.times.shape == (0,)
    with A.AudioStreamExtractor(mode=mode) as s:
        assert s.push(np.zeros(SR // 2, np.float32))[0].size == 0
        assert s.finish()[0].size == 0


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
        ({"hop_s": 0.125}, "multiple of 0.01 s"),
        ({"window_s": 1.005}, "multiple of 0.01 s"),
        ({"mode": "fast"}, "mode"),
        ({"workers": 2}, "workers"),
    ],
)
def test_bad_settings(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        A.extract_audio(np.zeros(SR, np.float32), SR, **kwargs)


def test_window_mode_takes_any_hop() -> None:
    f = A.extract_audio(np.zeros(SR + 2000, np.float32), SR, hop_s=0.125, mode="window")
    assert len(f) == 2


def test_bad_signals() -> None:
    with pytest.raises(ValueError, match="NaN"):
        A.extract_audio(np.full(SR, np.nan, np.float32), SR)
    with pytest.raises(ValueError, match="shape"):
        A.extract_audio(np.zeros((2, 2, 2), np.float32), SR)
    with pytest.raises(ValueError, match="sampling_rate"):
        A.extract_audio(np.zeros(SR, np.float32), 0)
    with A.AudioStreamExtractor() as s, pytest.raises(ValueError, match="1-D"):
        s.push(np.zeros((2, 10), np.float32))
    with pytest.raises(ValueError, match="max_wait_s"):
        A.AudioStreamExtractor(max_wait_s=-1)


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


# ---------------------------------------------------------------- the mode a bundle records


def _bundle(tmp_path: Path, features: dict):
    from avemotion.bundle import Bundle

    z = np.zeros(1, np.float32)
    return Bundle(path=tmp_path, labels=("a",), laughter_threshold=0.5, dims={"audio": 89, "video": 512},
                  inputs={}, outputs={}, window_s=2.0, hop_s=0.5, features=features, training={},
                  audio_mean=z, audio_std=z, video_mean=z, video_std=z)


def test_bundle_audio_mode_check(tmp_path: Path) -> None:
    from avemotion.bundle import BundleError, _settings, bundle_audio_mode, check_audio_mode

    assert _settings(None)["features"]["audio_mode"] == "sliding"  # new bundles record the mode
    with pytest.raises(BundleError, match="audio_mode"):
        _settings({"features": {"audio_mode": "fast"}})
    old = _bundle(tmp_path, {"audio_window_s": 1.0})  # made before the key: per-window steps
    assert bundle_audio_mode(old.features) == "window"
    check_audio_mode(old, "window")
    with pytest.raises(BundleError, match=r"mode 'window' \(no features.audio_mode.*runs in mode 'sliding'"):
        check_audio_mode(old, "sliding")
    new = _bundle(tmp_path, {"audio_mode": "sliding"})
    check_audio_mode(new, "sliding")
    with pytest.raises(BundleError, match=r"trained on audio steps in mode 'sliding'.*retrain"):
        check_audio_mode(new, "window")
    with pytest.raises(BundleError, match="expected one of"):
        check_audio_mode(_bundle(tmp_path, {"audio_mode": 3}), "sliding")
