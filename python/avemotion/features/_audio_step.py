"""The audio step's definition: constants, the 89 column names, window settings, signal preparation.

Part of :mod:`avemotion.features.audio` (which re-exports every public name here; import from there).
The step itself, the two modes and their edges are described in that module's docstring.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import numbers

import numpy as np

from avemotion import _contract

logger = logging.getLogger("avemotion.features.audio")

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

