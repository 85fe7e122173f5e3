"""Incremental audio steps from a live stream: :class:`AudioStreamExtractor` (re-exported by
:mod:`avemotion.features.audio`, whose docstring describes the modes, edges and latency)."""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Sequence

import numpy as np

from avemotion.features._audio_step import (
    AUDIO_DIM,
    DEFAULT_HOP_S,
    DEFAULT_MODE,
    DEFAULT_WINDOW_S,
    MIN_LOOKAHEAD_SAMPLES,
    SAMPLE_RATE,
    AudioConfig,
    _to_pcm16,
    rms_dbfs,
)
from avemotion.features._smile import SmileSlidingRunner, SmileWindowRunner

logger = logging.getLogger("avemotion.features.audio")


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
