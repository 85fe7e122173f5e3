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

Layout: this module holds the batch path (:func:`extract_audio`, :func:`extract_audio_file`) and
re-exports the rest: the step's definition (``_audio_step``: constants, column names,
:class:`AudioConfig`, signal preparation), the openSMILE runners (``_smile``) and the streaming
extractor (``_audio_stream``). Import every name from here.
"""

from __future__ import annotations

import numbers
import os

import numpy as np

from avemotion.features._audio_step import (
    AUDIO_DIM,
    AUDIO_FEATURE_NAMES,
    AUDIO_MODES,
    DEFAULT_HOP_S,
    DEFAULT_MODE,
    DEFAULT_WINDOW_S,
    EGEMAPS_NAMES,
    LLD_STEP_SAMPLES,
    MIN_LOOKAHEAD_SAMPLES,
    RMS_FLOOR_DB,
    SAMPLE_RATE,
    AudioConfig,
    AudioFeatures,
    _to_pcm16,
    check_mode,
    rms_dbfs,
    to_mono_16k,
)
from avemotion.features._audio_stream import AudioStreamExtractor
from avemotion.features._smile import (
    CONFIG_DIR,
    SLIDING_CONFIG,
    SmileSlidingRunner,
    SmileWindowRunner,
    import_opensmile,
)

__all__ = [
    "AUDIO_DIM",
    "AUDIO_FEATURE_NAMES",
    "AUDIO_MODES",
    "CONFIG_DIR",
    "DEFAULT_HOP_S",
    "DEFAULT_MODE",
    "DEFAULT_WINDOW_S",
    "EGEMAPS_NAMES",
    "LLD_STEP_SAMPLES",
    "MIN_LOOKAHEAD_SAMPLES",
    "RMS_FLOOR_DB",
    "SAMPLE_RATE",
    "SLIDING_CONFIG",
    "AudioConfig",
    "AudioFeatures",
    "AudioStreamExtractor",
    "SmileSlidingRunner",
    "SmileWindowRunner",
    "check_mode",
    "extract_audio",
    "extract_audio_file",
    "import_opensmile",
    "rms_dbfs",
    "to_mono_16k",
]


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
