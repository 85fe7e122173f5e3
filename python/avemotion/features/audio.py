"""Audio features: eGeMAPSv02 functionals (openSMILE) over sliding windows, batch and streaming.

One audio step is 89 float32 values (see ``docs/contracts.md``): the 88 eGeMAPSv02 functionals in
openSMILE's column order computed over a window of ``window_s`` seconds (default 1.0 s), followed by
the window's RMS level in dBFS (floor ``-120`` dB for digital silence). Steps come every ``hop_s``
(default 0.1 s). A step's timestamp is the window's **end** time in seconds from the signal start
(``(k * hop + window) / 16000``), which is what a real-time source has at that moment.

Windows are analysed *independently*: each window's functionals are exactly what
``opensmile.Smile(eGeMAPSv02, Functionals).process_signal(window, 16000)`` returns (bit-identical;
tested). A single openSMILE run with its own fixed-size framing over the whole signal is faster but
gives different numbers (the LLD smoothing and the F0 Viterbi tracker see context across window
edges), so it is not used. Both paths reuse one persistent openSMILE instance (SMILEapi with a
``cExternalAudioSource`` and a ``cExternalSink``): per window the samples are written, end-of-input is
set, the instance runs and is reset. That skips the ~7 ms configuration cost of each
``process_signal`` call while keeping the numbers identical.

Edges (batch and streaming alike): only complete windows give steps; a signal shorter than one window
gives zero steps and the samples after the last complete hop are not used (in streaming they wait in
the buffer for the next ``push``). Batch and streaming therefore give identical steps and times on the
same audio, whatever the chunking.

Input: float samples in [-1, 1] (values outside are clipped), 16 kHz mono. Other rates are resampled
once with ``audresample`` (openSMILE's own dependency, a soxr-based resampler); multi-channel input
(shape ``(channels, n)``) is averaged to mono first. Samples are quantised to int16 for openSMILE the
same way ``opensmile.Smile`` does (``x * 32768`` truncated, here with clipping instead of wrap-around).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import numbers
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Sample rate of every audio path in avemotion (Hz).
SAMPLE_RATE = 16000
DEFAULT_WINDOW_S = 1.0
DEFAULT_HOP_S = 0.1
#: dBFS value used for digital silence (RMS 0).
RMS_FLOOR_DB = -120.0
AUDIO_DIM = 89

# fmt: off
#: openSMILE eGeMAPSv02 functional names, in its column order (checked against opensmile in tests).
EGEMAPS_NAMES: tuple[str, ...] = (
    "F0semitoneFrom27.5Hz_sma3nz_amean",
    "F0semitoneFrom27.5Hz_sma3nz_stddevNorm",
    "F0semitoneFrom27.5Hz_sma3nz_percentile20.0",
    "F0semitoneFrom27.5Hz_sma3nz_percentile50.0",
    "F0semitoneFrom27.5Hz_sma3nz_percentile80.0",
    "F0semitoneFrom27.5Hz_sma3nz_pctlrange0-2",
    "F0semitoneFrom27.5Hz_sma3nz_meanRisingSlope",
    "F0semitoneFrom27.5Hz_sma3nz_stddevRisingSlope",
    "F0semitoneFrom27.5Hz_sma3nz_meanFallingSlope",
    "F0semitoneFrom27.5Hz_sma3nz_stddevFallingSlope",
    "loudness_sma3_amean",
    "loudness_sma3_stddevNorm",
    "loudness_sma3_percentile20.0",
    "loudness_sma3_percentile50.0",
    "loudness_sma3_percentile80.0",
    "loudness_sma3_pctlrange0-2",
    "loudness_sma3_meanRisingSlope",
    "loudness_sma3_stddevRisingSlope",
    "loudness_sma3_meanFallingSlope",
    "loudness_sma3_stddevFallingSlope",
    "spectralFlux_sma3_amean",
    "spectralFlux_sma3_stddevNorm",
    "mfcc1_sma3_amean",
    "mfcc1_sma3_stddevNorm",
    "mfcc2_sma3_amean",
    "mfcc2_sma3_stddevNorm",
    "mfcc3_sma3_amean",
    "mfcc3_sma3_stddevNorm",
    "mfcc4_sma3_amean",
    "mfcc4_sma3_stddevNorm",
    "jitterLocal_sma3nz_amean",
    "jitterLocal_sma3nz_stddevNorm",
    "shimmerLocaldB_sma3nz_amean",
    "shimmerLocaldB_sma3nz_stddevNorm",
    "HNRdBACF_sma3nz_amean",
    "HNRdBACF_sma3nz_stddevNorm",
    "logRelF0-H1-H2_sma3nz_amean",
    "logRelF0-H1-H2_sma3nz_stddevNorm",
    "logRelF0-H1-A3_sma3nz_amean",
    "logRelF0-H1-A3_sma3nz_stddevNorm",
    "F1frequency_sma3nz_amean",
    "F1frequency_sma3nz_stddevNorm",
    "F1bandwidth_sma3nz_amean",
    "F1bandwidth_sma3nz_stddevNorm",
    "F1amplitudeLogRelF0_sma3nz_amean",
    "F1amplitudeLogRelF0_sma3nz_stddevNorm",
    "F2frequency_sma3nz_amean",
    "F2frequency_sma3nz_stddevNorm",
    "F2bandwidth_sma3nz_amean",
    "F2bandwidth_sma3nz_stddevNorm",
    "F2amplitudeLogRelF0_sma3nz_amean",
    "F2amplitudeLogRelF0_sma3nz_stddevNorm",
    "F3frequency_sma3nz_amean",
    "F3frequency_sma3nz_stddevNorm",
    "F3bandwidth_sma3nz_amean",
    "F3bandwidth_sma3nz_stddevNorm",
    "F3amplitudeLogRelF0_sma3nz_amean",
    "F3amplitudeLogRelF0_sma3nz_stddevNorm",
    "alphaRatioV_sma3nz_amean",
    "alphaRatioV_sma3nz_stddevNorm",
    "hammarbergIndexV_sma3nz_amean",
    "hammarbergIndexV_sma3nz_stddevNorm",
    "slopeV0-500_sma3nz_amean",
    "slopeV0-500_sma3nz_stddevNorm",
    "slopeV500-1500_sma3nz_amean",
    "slopeV500-1500_sma3nz_stddevNorm",
    "spectralFluxV_sma3nz_amean",
    "spectralFluxV_sma3nz_stddevNorm",
    "mfcc1V_sma3nz_amean",
    "mfcc1V_sma3nz_stddevNorm",
    "mfcc2V_sma3nz_amean",
    "mfcc2V_sma3nz_stddevNorm",
    "mfcc3V_sma3nz_amean",
    "mfcc3V_sma3nz_stddevNorm",
    "mfcc4V_sma3nz_amean",
    "mfcc4V_sma3nz_stddevNorm",
    "alphaRatioUV_sma3nz_amean",
    "hammarbergIndexUV_sma3nz_amean",
    "slopeUV0-500_sma3nz_amean",
    "slopeUV500-1500_sma3nz_amean",
    "spectralFluxUV_sma3nz_amean",
    "loudnessPeaksPerSec",
    "VoicedSegmentsPerSec",
    "MeanVoicedSegmentLengthSec",
    "StddevVoicedSegmentLengthSec",
    "MeanUnvoicedSegmentLength",
    "StddevUnvoicedSegmentLength",
    "equivalentSoundLevel_dBp",
)
# fmt: on

#: The 89 column names of an audio step: eGeMAPSv02 functionals then ``rms_dbfs``.
AUDIO_FEATURE_NAMES: list[str] = [*EGEMAPS_NAMES, "rms_dbfs"]


@dataclasses.dataclass(frozen=True)
class AudioConfig:
    """Window settings. ``window_s``/``hop_s`` in seconds; both become whole numbers of samples."""

    window_s: float = DEFAULT_WINDOW_S
    hop_s: float = DEFAULT_HOP_S

    def __post_init__(self) -> None:
        for name in ("window_s", "hop_s"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not math.isfinite(float(value))
                or value <= 0
            ):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.window_s < 0.1:
            raise ValueError(
                f"window_s must be at least 0.1 s for eGeMAPS functionals, got {self.window_s}"
            )

    @property
    def window_samples(self) -> int:
        return int(round(self.window_s * SAMPLE_RATE))

    @property
    def hop_samples(self) -> int:
        return max(1, int(round(self.hop_s * SAMPLE_RATE)))


@dataclasses.dataclass
class AudioFeatures:
    """Audio steps: ``steps`` float32 (T, 89), ``times`` float64 (T,) window end times in seconds."""

    steps: np.ndarray
    times: np.ndarray
    config: AudioConfig = dataclasses.field(default_factory=AudioConfig)

    def __len__(self) -> int:
        return int(self.steps.shape[0])


def rms_dbfs(window: np.ndarray) -> float:
    """RMS level of float samples in dBFS (full scale = 1.0), ``RMS_FLOOR_DB`` for silence."""
    rms = float(np.sqrt(np.mean(np.square(window, dtype=np.float64)))) if window.size else 0.0
    if rms <= 0.0:
        return RMS_FLOOR_DB
    return max(RMS_FLOOR_DB, 20.0 * float(np.log10(rms)))


def to_mono_16k(signal: np.ndarray, sampling_rate: int, *, name: str = "signal") -> np.ndarray:
    """Return float32 mono 16 kHz samples.

    ``signal``: shape (n,) or (channels, n), float (expected in [-1, 1]) or int (scaled by the
    dtype's full range). Channels are averaged. Other rates are resampled with
    ``audresample.resample``. Raises ``ValueError`` naming ``name`` for a bad shape, rate or
    non-finite samples.
    """
    x = np.asarray(signal)
    if x.ndim == 2:
        x = x.mean(axis=0) if x.shape[0] > 1 else x[0]
    elif x.ndim != 1:
        raise ValueError(f"{name} must have shape (n,) or (channels, n), got shape {x.shape}")
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
    x = np.ascontiguousarray(x, dtype=np.float32)
    if (
        isinstance(sampling_rate, bool)
        or not isinstance(sampling_rate, (int, np.integer))
        or sampling_rate <= 0
    ):
        raise ValueError(
            f"sampling_rate of {name} must be a positive integer in Hz, got {sampling_rate!r}"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(
            f"{name} contains NaN or Inf samples ({int(np.sum(~np.isfinite(x)))} of {x.size})"
        )
    if sampling_rate != SAMPLE_RATE and x.size:
        import audresample

        logger.debug("resampling %s from %d Hz to %d Hz", name, sampling_rate, SAMPLE_RATE)
        x = audresample.resample(x, int(sampling_rate), SAMPLE_RATE)[0].astype(
            np.float32, copy=False
        )
    return np.ascontiguousarray(x)


def _to_pcm16(x: np.ndarray) -> np.ndarray:
    # what opensmile.Smile does (x * 32768, truncated to int16), with clipping instead of wrap-around
    return np.clip(x.astype(np.float32) * np.float32(32768.0), -32768.0, 32767.0).astype(np.int16)


def import_opensmile() -> Any:
    """Import opensmile, refusing the one order that crashes.

    openSMILE's C library (loaded by ``import opensmile``) segfaults at its first run when it is loaded
    *after* TensorFlow in the same process (seen with tensorflow-cpu 2.21 and opensmile 2.6); loaded
    before TensorFlow it works. Rather than crash, raise a RuntimeError that says what to do.
    """
    import sys

    if "opensmile" not in sys.modules and "tensorflow" in sys.modules:
        raise RuntimeError(
            "openSMILE cannot be loaded after TensorFlow in the same process (its library crashes): "
            "import avemotion.features.audio.import_opensmile() (or opensmile) before tensorflow, "
            "or extract features in a separate process (avemotion extract)"
        )
    import opensmile

    return opensmile


class SmileWindowRunner:
    """One persistent openSMILE instance computing the eGeMAPSv02 functionals of one window per call.

    Calls are serialized by a lock. :meth:`close` frees the C instance.
    """

    def __init__(self) -> None:
        opensmile = import_opensmile()
        from opensmile.core.config import config
        from opensmile.core.lib import OpenSMILE

        root = Path(opensmile.core.lib.__file__).resolve().parent / config.CONFIG_ROOT
        options = {
            "source": str(root / config.EXTERNAL_INPUT_CONFIG),
            "sink": str(root / config.EXTERNAL_OUTPUT_SINGLE_CONFIG),
            "sinkLevel": "func",
            "bufferModeRbConf": str(root / "shared" / "BufferModeRb.conf.inc"),
            "frameModeFunctionalsConf": str(root / "shared" / "FrameModeFunctionals.conf.inc"),
            "sampleRate": SAMPLE_RATE,
            "nBits": 16,
        }
        self._source = config.EXTERNAL_SOURCE_COMPONENT
        self._sink = config.EXTERNAL_OUTPUT_COMPONENT
        self._lock = threading.Lock()
        self._smile: Any = OpenSMILE()
        self._smile.initialize(
            str(root / "egemaps" / "v02" / "eGeMAPSv02.conf"), options, loglevel=0
        )
        n = self._smile.external_sink_get_num_elements(self._sink)
        if n != len(EGEMAPS_NAMES):
            self.close()
            raise RuntimeError(
                f"openSMILE eGeMAPSv02 gives {n} functionals, expected {len(EGEMAPS_NAMES)}"
            )

    def __call__(self, pcm: np.ndarray) -> np.ndarray:
        """Functionals (88,) float32 of one int16 window; NaN if openSMILE gives no frame."""
        out: list[np.ndarray] = []
        with self._lock:
            smile = self._smile
            if smile is None:
                raise RuntimeError("openSMILE instance already closed")
            # callbacks must be registered again after each reset; drop references to the old ones
            if isinstance(getattr(smile, "_callbacks", None), list):
                smile._callbacks.clear()
            smile.external_sink_set_callback(
                self._sink, lambda data: out.append(np.array(data, np.float32))
            )
            if not smile.external_audio_source_write_data(
                self._source, np.ascontiguousarray(pcm, np.int16).tobytes()
            ):
                raise RuntimeError(f"openSMILE did not accept a window of {pcm.size} samples")
            smile.external_audio_source_set_eoi(self._source)
            smile.run()
            smile.reset()
        if not out:
            return np.full(len(EGEMAPS_NAMES), np.nan, np.float32)
        return out[0]

    def close(self) -> None:
        with self._lock:
            if getattr(self, "_smile", None) is not None:
                self._smile.free()
                self._smile = None

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


def _window_starts(n_samples: int, cfg: AudioConfig) -> np.ndarray:
    if n_samples < cfg.window_samples:
        return np.zeros(0, np.int64)
    return np.arange(0, n_samples - cfg.window_samples + 1, cfg.hop_samples, dtype=np.int64)


def extract_audio(
    signal: np.ndarray,
    sampling_rate: int = SAMPLE_RATE,
    *,
    window_s: float = DEFAULT_WINDOW_S,
    hop_s: float = DEFAULT_HOP_S,
    runner: SmileWindowRunner | None = None,
    workers: int | None = None,
) -> AudioFeatures:
    """Audio steps of a whole signal (batch).

    Args:
        signal: samples, shape (n,) or (channels, n), floats in [-1, 1] or ints.
        sampling_rate: Hz; anything other than 16000 is resampled once (see module docstring).
        window_s, hop_s: window length and hop in seconds.
        runner: a :class:`SmileWindowRunner` to reuse across calls (one is made and freed otherwise);
            with a runner the windows are computed one after another on it.
        workers: openSMILE instances computing windows in parallel threads (openSMILE runs outside
            the GIL; every window is independent, so the result is bit-identical to one instance).
            Default: ``min(4, CPUs)``, fewer for short signals (at least 8 windows per instance).

    Returns:
        :class:`AudioFeatures`: ``steps`` (T, 89) float32 and ``times`` (T,) float64, the window
        end times in seconds from the signal start; T = 0 when the signal is shorter than a window.
    """
    cfg = AudioConfig(window_s, hop_s)
    x = to_mono_16k(signal, sampling_rate)
    starts = _window_starts(x.size, cfg)
    steps = np.zeros((starts.size, AUDIO_DIM), np.float32)
    if starts.size:
        if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
            raise ValueError(f"workers: expected an int >= 1 or None, got {workers!r}")
        n = 1 if runner is not None else int(workers or min(4, os.cpu_count() or 1, max(1, starts.size // 8)))
        runners = [runner] if runner is not None else [SmileWindowRunner() for _ in range(n)]
        pcm = _to_pcm16(x)
        w = cfg.window_samples

        def compute(run: SmileWindowRunner, idx: np.ndarray) -> None:
            for i in idx:
                s0 = starts[i]
                steps[i, :88] = run(pcm[s0 : s0 + w])
                steps[i, 88] = rms_dbfs(x[s0 : s0 + w])

        try:
            parts = np.array_split(np.arange(starts.size), len(runners))
            if len(runners) == 1:
                compute(runners[0], parts[0])
            else:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(len(runners)) as pool:
                    list(pool.map(compute, runners, parts))  # list(): re-raise a worker's exception
        finally:
            if runner is None:
                for r in runners:
                    r.close()
    times = (starts + cfg.window_samples).astype(np.float64) / SAMPLE_RATE
    return AudioFeatures(steps, times, cfg)


def extract_audio_file(
    path: str | os.PathLike[str],
    *,
    start: float = 0.0,
    end: float | None = None,
    window_s: float = DEFAULT_WINDOW_S,
    hop_s: float = DEFAULT_HOP_S,
) -> AudioFeatures:
    """Audio steps of a media file (anything PyAV/FFmpeg decodes) between ``start`` and ``end`` s.

    Times are relative to ``start``. Raises :class:`avemotion.features.media.MediaError` for an
    unreadable file or one without an audio stream.
    """
    from avemotion.features.media import decode_audio

    audio = decode_audio(path, start=start, end=end)
    return extract_audio(audio.samples, SAMPLE_RATE, window_s=window_s, hop_s=hop_s)


class AudioStreamExtractor:
    """Incremental audio steps from a live 16 kHz mono stream, one persistent openSMILE instance.

    ``push(samples)`` appends float32 samples (any chunk size, including empty) and returns the
    steps of every window the new samples complete: ``(times, steps)``, ``times`` float64 (k,)
    window end in seconds since the first pushed sample plus ``t0``, ``steps`` float32 (k, 89). On
    the same audio the concatenated results equal :func:`extract_audio` exactly, whatever the
    chunking. Memory stays bounded by one window. Call :meth:`close` (or use ``with``).
    """

    def __init__(
        self, window_s: float = DEFAULT_WINDOW_S, hop_s: float = DEFAULT_HOP_S, *, t0: float = 0.0
    ) -> None:
        self.config = AudioConfig(window_s, hop_s)
        self.t0 = float(t0)
        self._runner = SmileWindowRunner()
        self._buf = np.zeros(0, np.float32)
        self._buf_start = 0  # absolute index of self._buf[0]
        self._next_start = 0  # absolute index where the next window starts
        self.samples_seen = 0

    def push(self, samples: np.ndarray | Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(
                f"samples must be 1-D float32 mono at {SAMPLE_RATE} Hz, got shape {x.shape}"
            )
        if not np.all(np.isfinite(x)):
            raise ValueError(
                f"samples contain NaN or Inf ({int(np.sum(~np.isfinite(x)))} of {x.size})"
            )
        self._buf = np.concatenate([self._buf, x])
        self.samples_seen += x.size
        cfg = self.config
        times: list[float] = []
        rows: list[np.ndarray] = []
        while self._next_start + cfg.window_samples <= self.samples_seen:
            a = self._next_start - self._buf_start
            win = self._buf[a : a + cfg.window_samples]
            row = np.empty(AUDIO_DIM, np.float32)
            row[:88] = self._runner(_to_pcm16(win))
            row[88] = rms_dbfs(win)
            rows.append(row)
            times.append(self.t0 + (self._next_start + cfg.window_samples) / SAMPLE_RATE)
            self._next_start += cfg.hop_samples
        drop = min(self._next_start - self._buf_start, self._buf.size)
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start += drop
        steps = np.stack(rows) if rows else np.zeros((0, AUDIO_DIM), np.float32)
        return np.asarray(times, np.float64), steps

    def close(self) -> None:
        self._runner.close()

    def __enter__(self) -> AudioStreamExtractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
