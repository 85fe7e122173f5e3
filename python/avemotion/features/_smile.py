"""The openSMILE runners behind :mod:`avemotion.features.audio`: the import guard, one persistent
instance per window (mode ``"window"``) and one streaming instance with its tick thread (mode
``"sliding"``, configuration in ``features/opensmile/``). Re-exported by ``avemotion.features.audio``.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from avemotion.features._audio_step import (
    DEFAULT_HOP_S,
    DEFAULT_WINDOW_S,
    EGEMAPS_NAMES,
    LLD_STEP_SAMPLES,
    SAMPLE_RATE,
    AudioConfig,
)

logger = logging.getLogger("avemotion.features.audio")

#: Where the sliding-mode openSMILE configuration lives (package data, shipped in the wheel).
CONFIG_DIR = Path(__file__).resolve().parent / "opensmile"
SLIDING_CONFIG = CONFIG_DIR / "egemaps_v02_sliding.conf"


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
