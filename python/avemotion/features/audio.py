"""Audio features: eGeMAPSv02 functionals (openSMILE) over sliding windows, batch and streaming.

One audio step is 89 float32 values (see ``docs/contracts.md``): the 88 eGeMAPSv02 functionals in
openSMILE's column order computed over a window of ``window_s`` seconds (default 1.0 s), followed by
the window's RMS level in dBFS (floor ``-120`` dB for digital silence). Steps come every ``hop_s``
(default 0.1 s). Step k covers the samples ``[k * hop, k * hop + window)``; its timestamp is the
window's **end** ``(k * hop + window) / 16000`` s from the signal start (the first step is at
``window_s``), which is what a real-time source has at that moment.

Two modes compute the 88 functionals (``mode=``; a model bundle records which one its features used,
``features.audio_mode``, see :func:`avemotion.bundle.check_audio_mode`):

``"sliding"`` (default)
    One openSMILE run per stream (``features/opensmile/egemaps_v02_sliding.conf``: eGeMAPSv02's own
    components, its functionals switched to ``frameMode = fixed``). The low-level descriptors (LLDs)
    are computed once, every 10 ms, and openSMILE's functionals slide over them, one output per hop.
    *Which LLD frames a step covers*: LLD frame j is analysed from ``j * 10 ms`` over 60 ms (F0, voice
    quality, formants and what is joint with them) or 20 ms (loudness, spectral flux, MFCCs, Leq);
    the step of window ``[t - W, t]`` covers exactly the frames whose analysis frame lies inside the
    window (``t - W <= j * 10 ms`` and ``j * 10 ms + length <= t``): ``W / 10 ms - 5`` frames of 60 ms
    and ``W / 10 ms - 1`` of 20 ms, the same frames per-window ``process_signal`` analyses. (openSMILE's
    functionals take one frame count per component; giving all of them ``W / 10 ms`` frames, as a plain
    ``frameSize = W`` does, makes windows 1.05 s long.) The LLD *values* still see context that a
    window analysed alone does not: the 3-frame smoothing (``sma3``) reads one frame on each side, F0's
    Viterbi smoother and the jitter/shimmer periods continue across window edges, and a window alone
    ends with openSMILE's end-of-input flush. So values differ from per-window ``process_signal``
    (median correlation over the 88 columns 0.991-0.999 on real speech; Leq and RMS identical; the
    table: ``docs/audio_agreement.md``). ``window_s`` and ``hop_s`` must be multiples of 10 ms.
    Cost: each sample is analysed once, not ``window / hop`` times (~16x less CPU than per-window
    ``process_signal`` at W = 1 s, H = 0.1 s; ``benchmarks/bench_audio.py``).
``"window"``
    Every window analysed from scratch: each window's functionals are exactly what
    ``opensmile.Smile(eGeMAPSv02, Functionals).process_signal(window, 16000)`` returns (bit-identical;
    tested), through one persistent openSMILE instance per thread that is reset after each window
    (skipping ``process_signal``'s ~7 ms set-up per call). Batch spreads windows over threads.

Edges (both modes, batch and streaming alike): only complete windows give steps; a signal shorter
than one window gives zero steps. Batch and streaming give identical steps and times on the same
audio, whatever the chunking (in ``"sliding"`` mode streaming must end with
:meth:`AudioStreamExtractor.finish` to get the last steps). In ``"sliding"`` mode the samples after
the last complete window still enter the last steps' LLD context, as they would in a longer stream.

Streaming latency (``"sliding"``): openSMILE gives a window's step once it has 20-80 ms of audio past
the window's end (one smoothing frame, plus however long F0's Viterbi smoother takes to converge; at
most 0.4 s, its buffer). :meth:`AudioStreamExtractor.push` waits up to ``max_wait_s`` for the steps
that 20 ms of look-ahead allow and returns every step ready by then; the rest come with a later push.

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
import time
import weakref
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avemotion import _contract

logger = logging.getLogger(__name__)

#: Sample rate of every audio path in avemotion (Hz).
SAMPLE_RATE = _contract.SAMPLE_RATE
DEFAULT_WINDOW_S = _contract.WINDOWS.audio_window_s
DEFAULT_HOP_S = _contract.WINDOWS.audio_hop_s
#: ``"sliding"`` or ``"window"`` (module docstring); the default is ``"sliding"``.
AUDIO_MODES = _contract.AUDIO_MODES
DEFAULT_MODE = _contract.DEFAULT_AUDIO_MODE
#: dBFS value used for digital silence (RMS 0).
RMS_FLOOR_DB = -120.0
AUDIO_DIM = _contract.AUDIO_DIM

#: Where the sliding-mode openSMILE configuration lives (package data, shipped in the wheel).
CONFIG_DIR = Path(__file__).resolve().parent / "opensmile"
SLIDING_CONFIG = CONFIG_DIR / "egemaps_v02_sliding.conf"
#: eGeMAPS LLD frame step (10 ms) in samples; sliding windows and hops are whole numbers of it.
LLD_STEP_SAMPLES = 160
#: Audio past a window's end openSMILE needs at the least before that window's step exists (20 ms).
MIN_LOOKAHEAD_SAMPLES = 320

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


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`AUDIO_MODES`, else a ValueError naming the choices."""
    if mode not in AUDIO_MODES:
        raise ValueError(f"mode: expected one of {list(AUDIO_MODES)}, got {mode!r}")
    return mode


@dataclasses.dataclass(frozen=True)
class AudioConfig:
    """Window settings. ``window_s``/``hop_s`` in seconds; both become whole numbers of samples
    (in ``"sliding"`` mode whole numbers of 10 ms LLD frames). ``mode``: see the module docstring."""

    window_s: float = DEFAULT_WINDOW_S
    hop_s: float = DEFAULT_HOP_S
    mode: str = DEFAULT_MODE

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
        check_mode(self.mode)
        if self.mode == "sliding":
            for name, n in (("window_s", self.window_samples), ("hop_s", self.hop_samples)):
                if n % LLD_STEP_SAMPLES or abs(n - getattr(self, name) * SAMPLE_RATE) > 0.5:
                    raise ValueError(
                        f"{name} must be a multiple of 0.01 s (the eGeMAPS LLD step) in mode "
                        f"'sliding', got {getattr(self, name)!r}; use mode='window' for other values"
                    )

    @property
    def window_samples(self) -> int:
        return int(round(self.window_s * SAMPLE_RATE))

    @property
    def hop_samples(self) -> int:
        return max(1, int(round(self.hop_s * SAMPLE_RATE)))

    def n_windows(self, n_samples: int) -> int:
        """How many complete windows ``n_samples`` samples hold."""
        if n_samples < self.window_samples:
            return 0
        return (n_samples - self.window_samples) // self.hop_samples + 1


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


def _opensmile_config_root() -> Path:
    opensmile = import_opensmile()
    from opensmile.core.config import config

    return Path(opensmile.core.lib.__file__).resolve().parent / config.CONFIG_ROOT


def _check_names(smile: Any, sink: str, what: str) -> None:
    n = smile.external_sink_get_num_elements(sink)
    names = [smile.external_sink_get_element_name(sink, i) for i in range(n)]
    if names != list(EGEMAPS_NAMES):
        i = next((i for i, (a, b) in enumerate(zip(names, EGEMAPS_NAMES, strict=False)) if a != b), None)
        i = min(n, len(EGEMAPS_NAMES)) if i is None else i
        raise RuntimeError(
            f"openSMILE {what} gives {n} functionals, not eGeMAPSv02's {len(EGEMAPS_NAMES)} in "
            f"order: column {i} is {names[i] if i < n else None!r}, expected "
            f"{EGEMAPS_NAMES[i] if i < len(EGEMAPS_NAMES) else None!r}"
        )


class SmileWindowRunner:
    """One persistent openSMILE instance computing the eGeMAPSv02 functionals of one window per call
    (mode ``"window"``). Calls are serialized by a lock. :meth:`close` frees the C instance."""

    def __init__(self) -> None:
        root = _opensmile_config_root()  # first: refuses the import after TensorFlow
        from opensmile.core.config import config
        from opensmile.core.lib import OpenSMILE

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
        try:
            _check_names(self._smile, self._sink, "eGeMAPSv02.conf")
        except RuntimeError:
            self.close()
            raise

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


class _SmileThread:
    """openSMILE's tick loop (``smile.run()``, blocking until end of input) in a daemon thread, and the
    rows its external sink hands over. Holds no reference to its owner, so a finalizer can stop it."""

    #: no row and no accepted write for this long while audio is pending: openSMILE is stuck
    STALL_TIMEOUT_S = 120.0

    def __init__(self, smile: Any, source: str) -> None:
        self.smile: Any = smile
        self.source = source
        self.cv = threading.Condition()
        self.rows: list[np.ndarray] = []
        self.n_rows = 0  # rows emitted since the start
        self.done = False
        self.eoi = False
        self.error: BaseException | None = None
        self._stalled_at = -1  # n_rows when a wait for rows last ran out (F0 smoother holding back)
        self.thread = threading.Thread(target=self._run, name="avemotion-opensmile", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            self.smile.run()
        except BaseException as exc:  # reported to the writer/reader thread
            self.error = exc
        finally:
            with self.cv:
                self.done = True
                self.cv.notify_all()

    def on_row(self, data: np.ndarray) -> None:
        row = np.array(data, np.float32)  # copy: the buffer belongs to openSMILE
        with self.cv:
            self.rows.append(row)
            self.n_rows += 1
            self.cv.notify_all()

    def _check(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"openSMILE stopped with an error: {self.error}") from self.error
        if self.done and not self.eoi:
            raise RuntimeError("openSMILE stopped before the end of the stream")

    def write(self, pcm: np.ndarray, block: int) -> None:
        """Hand int16 samples to openSMILE in blocks of ``block``, waiting while its ring is full."""
        data = np.ascontiguousarray(pcm, np.int16)
        for i in range(0, data.size, block):
            chunk = data[i : i + block].tobytes()
            last_progress, seen = time.monotonic(), self.n_rows
            while not self.smile.external_audio_source_write_data(self.source, chunk):
                self._check()
                with self.cv:
                    self.cv.wait(0.005)  # woken early by the next row
                if self.n_rows != seen:
                    last_progress, seen = time.monotonic(), self.n_rows
                elif time.monotonic() - last_progress > self.STALL_TIMEOUT_S:
                    raise RuntimeError(
                        f"openSMILE accepted no audio for {self.STALL_TIMEOUT_S:.0f} s (stuck)"
                    )

    def take(self, expected: int, wait_s: float) -> list[np.ndarray]:
        """The rows emitted so far, after waiting up to ``wait_s`` for ``expected`` rows in all.

        A wait that ran out means F0's Viterbi smoother is holding frames back until more audio
        comes; the next call does not wait again until a row has arrived since."""
        with self.cv:
            if wait_s > 0 and self.n_rows < expected and self.n_rows != self._stalled_at:
                self.cv.wait_for(lambda: self.n_rows >= expected or self.done, timeout=wait_s)
                self._stalled_at = self.n_rows if self.n_rows < expected else -1
            rows, self.rows = self.rows, []
        self._check()
        return rows

    def finish(self, timeout_s: float = 600.0) -> list[np.ndarray]:
        """Signal end of input, wait for openSMILE to flush, free it; the remaining rows."""
        if self.smile is None:
            raise RuntimeError("openSMILE instance already closed")
        if not self.eoi:
            self.eoi = True
            if self.thread.is_alive():
                self.smile.external_audio_source_set_eoi(self.source)
        self.thread.join(timeout_s)
        if self.thread.is_alive():
            raise RuntimeError(f"openSMILE did not finish within {timeout_s:.0f} s of end of input")
        try:
            self._check()
        finally:
            self.smile.free()
            self.smile = None
        with self.cv:
            rows, self.rows = self.rows, []
        return rows

    def shutdown(self) -> None:
        """Best-effort stop and free (close / garbage collection / interpreter exit)."""
        try:
            if self.smile is not None and self.thread.is_alive():
                self.finish(timeout_s=30.0)
            elif self.smile is not None:
                self.smile.free()
                self.smile = None
        except Exception as exc:  # pragma: no cover - nothing to report to
            logger.debug("openSMILE shutdown: %s", exc)


class SmileSlidingRunner:
    """One persistent openSMILE instance running the sliding eGeMAPSv02 configuration over one stream
    (mode ``"sliding"``): :meth:`write` int16 samples, :meth:`take` the functionals rows (88,) float32
    emitted so far, one per window in order, :meth:`finish` at the end of the stream for the rest.

    openSMILE's tick loop runs in a daemon thread (outside the GIL); its sink hands each row over.
    Memory is bounded (ring buffers of ``WAVE_RING_S`` audio and a few windows of LLD frames).
    """

    #: samples per write into openSMILE (0.5 s) and the wave ring it writes into (5 s: more than the
    #: jitter/shimmer reader's lag behind the newest sample, plus one write)
    WRITE_BLOCK = 8000
    WAVE_RING_S = 5.0

    def __init__(self, window_s: float = DEFAULT_WINDOW_S, hop_s: float = DEFAULT_HOP_S) -> None:
        self.config = AudioConfig(window_s, hop_s, "sliding")
        root = _opensmile_config_root()  # first: refuses the import after TensorFlow
        from opensmile.core.config import config
        from opensmile.core.lib import OpenSMILE

        lld = self.config.window_samples // LLD_STEP_SAMPLES  # 10 ms LLD frames per window
        step = self.config.hop_samples // LLD_STEP_SAMPLES
        options = {
            "gemapsLld": root / "gemaps" / "v01b" / "GeMAPSv01b_core.lld.conf.inc",
            "egemapsLld": root / "egemaps" / "v02" / "eGeMAPSv02_core.lld.conf.inc",
            "gemapsFunc": root / "gemaps" / "v01b" / "GeMAPSv01b_core.func.conf.inc",
            "egemapsFunc": root / "egemaps" / "v02" / "eGeMAPSv02_core.func.conf.inc",
            "bufferModeRbConf": root / "shared" / "BufferModeRb.conf.inc",
            "bufferModeRbLagConf": root / "shared" / "BufferModeRbLag.conf.inc",
            "bufferModeConf": CONFIG_DIR / "lld_ring_buffer.conf.inc",
            "frameModeFunctionalsConf": CONFIG_DIR / "sliding_functionals.conf.inc",
            "frames60": lld - 5,  # 60 ms frames inside the window
            "frames25": lld - 1,  # 20 ms frames inside the window
            "stepFrames": step,
            "lldBufferFrames": max(400, 2 * (lld + step) + 50),
            "waveBufferSamples": int(self.WAVE_RING_S * SAMPLE_RATE) + self.WRITE_BLOCK,
        }
        for key, value in options.items():
            if isinstance(value, Path) and not value.is_file():
                raise FileNotFoundError(f"openSMILE configuration file missing: {value} ({key})")
        source, sink = config.EXTERNAL_SOURCE_COMPONENT, config.EXTERNAL_OUTPUT_COMPONENT
        smile = OpenSMILE()
        smile.initialize(str(SLIDING_CONFIG), {k: str(v) for k, v in options.items()}, loglevel=0)
        try:
            _check_names(smile, sink, SLIDING_CONFIG.name)
            self._thread = _SmileThread(smile, source)
            smile.external_sink_set_callback(sink, self._thread.on_row)
        except BaseException:
            smile.free()
            raise
        self._thread.start()
        self._finalizer = weakref.finalize(self, self._thread.shutdown)

    def write(self, pcm: np.ndarray) -> None:
        """Append int16 samples to the stream (blocks while openSMILE's input ring is full)."""
        if self._thread.eoi or self._thread.smile is None:
            raise RuntimeError("openSMILE stream already finished")
        if pcm.size:
            self._thread.write(pcm, self.WRITE_BLOCK)

    def take(self, expected: int = 0, wait_s: float = 0.0) -> list[np.ndarray]:
        """Rows emitted since the last call; first waits up to ``wait_s`` s until ``expected`` rows
        have been emitted in all since the start (see :meth:`_SmileThread.take`)."""
        return self._thread.take(expected, wait_s)

    @property
    def rows_emitted(self) -> int:
        return self._thread.n_rows

    def finish(self) -> list[np.ndarray]:
        """End of the stream: the remaining rows (openSMILE flushes its buffers); frees the instance."""
        rows = self._thread.finish()
        self._finalizer.detach()
        return rows

    def close(self) -> None:
        """Stop and free the instance (idempotent); rows not yet taken are dropped."""
        self._finalizer()


def extract_audio(
    signal: np.ndarray,
    sampling_rate: int = SAMPLE_RATE,
    *,
    window_s: float = DEFAULT_WINDOW_S,
    hop_s: float = DEFAULT_HOP_S,
    mode: str = DEFAULT_MODE,
    runner: SmileWindowRunner | None = None,
    workers: int | None = None,
) -> AudioFeatures:
    """Audio steps of a whole signal (batch).

    Args:
        signal: samples, shape (n,) or (channels, n), floats in [-1, 1] or ints.
        sampling_rate: Hz; anything other than 16000 is resampled once (see module docstring).
        window_s, hop_s: window length and hop in seconds.
        mode: ``"sliding"`` (default: one openSMILE run over the signal) or ``"window"`` (every
            window from scratch, bit-identical to per-window ``process_signal``); module docstring.
        runner: a :class:`SmileWindowRunner` to reuse across calls in mode ``"window"`` (one is made
            and freed otherwise); with a runner the windows are computed one after another on it.
            Mode ``"sliding"`` runs one openSMILE instance per call (a stream has state; set-up is
            ~10 ms) and does not use it.
        workers: mode ``"window"`` only: openSMILE instances computing windows in parallel threads
            (openSMILE runs outside the GIL; every window is independent, so the result is
            bit-identical to one instance). Default: ``min(4, CPUs)``, fewer for short signals (at
            least 8 windows per instance). In mode ``"sliding"`` it must be None or 1.

    Returns:
        :class:`AudioFeatures`: ``steps`` (T, 89) float32 and ``times`` (T,) float64, the window
        end times in seconds from the signal start; T = 0 when the signal is shorter than a window.
    """
    cfg = AudioConfig(window_s, hop_s, mode)
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1
    ):
        raise ValueError(f"workers: expected an int >= 1 or None, got {workers!r}")
    if mode == "sliding" and workers not in (None, 1):
        raise ValueError(
            f"workers: mode 'sliding' analyses the signal as one stream (workers None or 1), "
            f"got {workers!r}; use mode='window' to spread windows over threads"
        )
    x = to_mono_16k(signal, sampling_rate)
    if mode == "sliding":
        if cfg.n_windows(x.size) == 0:
            return AudioFeatures(np.zeros((0, AUDIO_DIM), np.float32), np.zeros(0), cfg)
        with AudioStreamExtractor(window_s, hop_s, mode="sliding", max_wait_s=0.0) as stream:
            t1, s1 = stream.push(x)
            t2, s2 = stream.finish()
        return AudioFeatures(np.concatenate([s1, s2]), np.concatenate([t1, t2]), cfg)
    starts = np.arange(cfg.n_windows(x.size), dtype=np.int64) * cfg.hop_samples
    steps = np.zeros((starts.size, AUDIO_DIM), np.float32)
    if starts.size:
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
    mode: str = DEFAULT_MODE,
) -> AudioFeatures:
    """Audio steps of a media file (anything PyAV/FFmpeg decodes) between ``start`` and ``end`` s.

    Times are relative to ``start``. Raises :class:`avemotion.features.media.MediaError` for an
    unreadable file or one without an audio stream.
    """
    from avemotion.features.media import decode_audio

    audio = decode_audio(path, start=start, end=end)
    return extract_audio(audio.samples, SAMPLE_RATE, window_s=window_s, hop_s=hop_s, mode=mode)


class AudioStreamExtractor:
    """Incremental audio steps from a live 16 kHz mono stream, one persistent openSMILE instance.

    ``push(samples)`` appends float32 samples (any chunk size, including empty) and returns the
    steps that are ready: ``(times, steps)``, ``times`` float64 (k,) window end in seconds since the
    first pushed sample plus ``t0``, ``steps`` float32 (k, 89). :meth:`finish` ends the stream and
    returns the steps still pending. On the same audio the concatenated results of every ``push``
    and ``finish`` equal :func:`extract_audio` exactly, whatever the chunking.

    Mode ``"window"``: a push returns every window it completes (``finish`` returns nothing more).
    Mode ``"sliding"``: openSMILE needs 20-80 ms of audio past a window's end before its step exists
    (module docstring); a push waits up to ``max_wait_s`` for the steps 20 ms of look-ahead allow,
    then returns what is ready. Memory stays bounded by one window (plus openSMILE's ring buffers).
    Call :meth:`finish` or :meth:`close` (or use ``with``; leaving the block closes without the
    pending steps).
    """

    def __init__(
        self,
        window_s: float = DEFAULT_WINDOW_S,
        hop_s: float = DEFAULT_HOP_S,
        *,
        t0: float = 0.0,
        mode: str = DEFAULT_MODE,
        max_wait_s: float = 0.05,
    ) -> None:
        self.config = AudioConfig(window_s, hop_s, mode)
        if isinstance(max_wait_s, bool) or not (0 <= float(max_wait_s) < math.inf):
            raise ValueError(f"max_wait_s: expected seconds >= 0, got {max_wait_s!r}")
        self.t0 = float(t0)
        self.max_wait_s = float(max_wait_s)
        self._window: SmileWindowRunner | None = None
        self._sliding: SmileSlidingRunner | None = None
        if mode == "window":
            self._window = SmileWindowRunner()
        else:
            self._sliding = SmileSlidingRunner(window_s, hop_s)
        self._buf = np.zeros(0, np.float32)
        self._buf_start = 0  # absolute index of self._buf[0]
        self._next_start = 0  # absolute start of the next window to compute (window) / measure (sliding)
        self._rms: deque[float] = deque()  # sliding: RMS of complete windows, functionals pending
        self._next_out = 0  # index of the next step to return
        self._finished = False
        self.samples_seen = 0

    @property
    def mode(self) -> str:
        return self.config.mode

    def push(self, samples: np.ndarray | Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """Append float32 mono 16 kHz samples; the steps ready now ``(times (k,), steps (k, 89))``."""
        if self._finished:
            raise RuntimeError("push: the stream is finished (finish/close was called)")
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(
                f"samples must be 1-D float32 mono at {SAMPLE_RATE} Hz, got shape {x.shape}"
            )
        if not np.all(np.isfinite(x)):
            raise ValueError(
                f"samples contain NaN or Inf ({int(np.sum(~np.isfinite(x)))} of {x.size})"
            )
        self._buf = np.concatenate([self._buf, x]) if self._buf.size else x.copy()
        self.samples_seen += x.size
        cfg = self.config
        if self._sliding is not None:
            self._sliding.write(_to_pcm16(x))
        rows: list[np.ndarray] = []
        # every window the samples complete: its RMS (sliding) or its whole step (window)
        while self._next_start + cfg.window_samples <= self.samples_seen:
            a = self._next_start - self._buf_start
            win = self._buf[a : a + cfg.window_samples]
            if self._window is not None:
                row = np.empty(AUDIO_DIM, np.float32)
                row[:88] = self._window(_to_pcm16(win))
                row[88] = rms_dbfs(win)
                rows.append(row)
            else:
                self._rms.append(rms_dbfs(win))
            self._next_start += cfg.hop_samples
        drop = min(self._next_start - self._buf_start, self._buf.size)
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start += drop
        if self._sliding is None:
            return self._pack(self._next_out, rows)
        ready = cfg.n_windows(self.samples_seen - MIN_LOOKAHEAD_SAMPLES)
        return self._sliding_steps(self._sliding.take(ready, self.max_wait_s))

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """End of the stream: the steps still pending (mode ``"sliding"``), then close."""
        if self._finished:
            raise RuntimeError("finish: the stream is already finished")
        self._finished = True
        if self._sliding is None:
            self.close()
            return self._pack(self._next_out, [])
        # at end of input openSMILE may close one more window with its end-of-input frame (the LLD
        # smoother repeats the last frame): not a complete window of samples, so not a step
        out = self._sliding_steps(self._sliding.finish()[: len(self._rms)])
        if self._rms:
            raise RuntimeError(
                f"openSMILE gave {self._next_out} of {self._next_out + len(self._rms)} windows "
                f"of a {self.samples_seen / SAMPLE_RATE:.3f} s stream"
            )
        return out

    def _sliding_steps(self, rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        if len(rows) > len(self._rms):  # never seen: openSMILE gives a window only once it is complete
            raise RuntimeError(
                f"openSMILE gave {self._next_out + len(rows)} windows, but only "
                f"{self._next_out + len(self._rms)} are complete"
            )
        out = []
        for row in rows:
            full = np.empty(AUDIO_DIM, np.float32)
            full[:88] = row
            full[88] = self._rms.popleft()
            out.append(full)
        return self._pack(self._next_out, out)

    def _pack(self, first: int, rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        k = np.arange(first, first + len(rows), dtype=np.int64)
        self._next_out = first + len(rows)
        times = self.t0 + (k * cfg.hop_samples + cfg.window_samples) / SAMPLE_RATE
        steps = np.stack(rows) if rows else np.zeros((0, AUDIO_DIM), np.float32)
        return times.astype(np.float64), steps

    def close(self) -> None:
        """Free openSMILE (idempotent). In mode ``"sliding"`` steps not yet returned are dropped."""
        self._finished = True
        if self._window is not None:
            self._window.close()
        if self._sliding is not None:
            if self._rms:
                logger.debug("audio stream closed with %d steps pending", len(self._rms))
            self._sliding.close()

    def __enter__(self) -> AudioStreamExtractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
