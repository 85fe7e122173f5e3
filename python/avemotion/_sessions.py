"""ONNX Runtime sessions for the two-head model: the C API backend and onnxruntime's Python binding.

Backends (``backend=``)
    ``"c"``       ONNX Runtime's C API from the C++ core (``avemotion._core.OrtModel``): the library
                  ``libonnxruntime.so.1.*`` of the installed ``onnxruntime``/``onnxruntime-gpu``
                  package is loaded at run time; inputs are passed without a copy, outputs are
                  preallocated for the largest batch seen, the GIL is released during ``Run()``.
                  Available when the C headers were found at build time (``scripts/fetch_ort_headers.sh``).
    ``"python"``  onnxruntime's Python ``InferenceSession``; identical outputs.
    ``"auto"``    (default) ``"c"`` when available, else ``"python"``.

Execution providers (``providers=``)
    ``"auto"`` picks CUDA when the installed package offers ``CUDAExecutionProvider`` (onnxruntime-gpu)
    and a session can be created on it, else the CPU, and logs which. ``"cuda"`` when CUDA cannot be
    used falls back to the CPU with a warning, or raises ``RuntimeError`` in strict mode
    (``strict=True`` or ``AVEMOTION_STRICT=1``). ``"cpu"`` always uses the CPU.

Threads: ``intra_op_threads`` / ``inter_op_threads`` (0 = ONNX Runtime's default).

``create_session`` picks both; ``avemotion.inference`` re-exports every public name here (the
``Predictor`` only needs a :class:`Session`).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from avemotion import _core, kernels
from avemotion._contract import strict_from_env
from avemotion.kernels import available_backend, ort_library_path

log = logging.getLogger("avemotion.inference")

Backend = Literal["auto", "c", "python"]
_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"


def backend_info() -> dict[str, Any]:
    """Backend, ORT versions (Python package, C library, header API), available providers."""
    import onnxruntime

    info: dict[str, Any] = {
        "backend": available_backend(),
        "onnxruntime": onnxruntime.__version__,
        "providers": list(onnxruntime.get_available_providers()),
        "headers_api_version": _core.ort_headers_api_version() if getattr(_core, "HAVE_ORT", False) else None,
        "c_backend_error": kernels.c_backend_error(),
    }
    if info["c_backend_error"] is None:
        info["library"] = str(ort_library_path())
        info["library_version"] = _core.ort_library_version(info["library"])
    return info


def select_provider(requested: str, available: Sequence[str], *, strict: bool = False) -> tuple[str, str | None]:
    """Decide the execution provider: returns ``("cpu" | "cuda", warning or None)``.

    ``requested``: ``"auto"``, ``"cpu"``, ``"cuda"`` (ONNX Runtime's names
    ``"CPUExecutionProvider"``/``"CUDAExecutionProvider"`` are accepted too); ``available``: the
    package's providers (``onnxruntime.get_available_providers()``). ``"cuda"`` without CUDA: CPU
    plus a warning text, or ``RuntimeError`` when ``strict``.
    """
    aliases = {"auto": "auto", "cpu": "cpu", "cuda": "cuda", _CPU.lower(): "cpu", _CUDA.lower(): "cuda"}
    key = aliases.get(str(requested).lower()) if isinstance(requested, str) else None
    if key is None:
        raise ValueError(f"providers: expected 'auto', 'cpu' or 'cuda', got {requested!r}")
    has_cuda = _CUDA in available
    if key == "auto":
        return ("cuda" if has_cuda else "cpu"), None
    if key == "cpu":
        return "cpu", None
    if has_cuda:
        return "cuda", None
    why = f"CUDA execution provider requested but not available (providers: {list(available)}; install onnxruntime-gpu)"
    if strict:
        raise RuntimeError(f"providers: {why}; strict mode forbids falling back to the CPU")
    return "cpu", why + "; using the CPU"


class Session(Protocol):
    """What the Predictor needs from a backend."""

    backend: str
    provider: str
    inputs: list[tuple[str, tuple[Any, ...]]]
    outputs: list[tuple[str, tuple[Any, ...]]]

    def run(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Arrays in ``inputs`` order (C-contiguous float32); outputs in ``outputs`` order."""
        ...


class CSession:
    """ONNX Runtime through the C API in ``avemotion._core``."""

    backend = "c"

    def __init__(self, model_path: Path, *, provider: str, strict: bool, intra_op_threads: int,
                 inter_op_threads: int, device_id: int = 0) -> None:
        self._m = _core.OrtModel(str(ort_library_path()), str(model_path), provider=provider,
                                 device_id=device_id, intra_op_threads=intra_op_threads,
                                 inter_op_threads=inter_op_threads, strict=strict)
        self.provider: str = self._m.provider
        self.fallback_reason: str = self._m.fallback_reason
        self.inputs = [(n, tuple(s)) for n, s in self._m.inputs]
        self.outputs = [(n, tuple(s)) for n, s in self._m.outputs]

    def run(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        return list(self._m.run(list(arrays)))

    @property
    def max_batch_seen(self) -> int:
        return int(self._m.max_batch_seen)


class PySession:
    """onnxruntime's Python ``InferenceSession`` (the fallback backend and the benchmark baseline)."""

    backend = "python"

    def __init__(self, model_path: Path, *, provider: str, strict: bool, intra_op_threads: int,
                 inter_op_threads: int, device_id: int = 0) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = intra_op_threads
        so.inter_op_num_threads = inter_op_threads
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        provs: list[Any] = [_CPU]
        if provider == "cuda":
            provs = [(_CUDA, {"device_id": device_id}), _CPU]
        self.fallback_reason = ""
        try:
            self._s = ort.InferenceSession(str(model_path), sess_options=so, providers=provs)
        except Exception as exc:
            if provider != "cuda":
                raise RuntimeError(f"model_path: cannot create an ONNX Runtime session for {model_path}: {exc}") from exc
            if strict:
                raise RuntimeError(f"providers: 'cuda' requested in strict mode but unavailable: {exc}") from exc
            self.fallback_reason = f"CUDA execution provider unavailable, using the CPU: {exc}"
            self._s = ort.InferenceSession(str(model_path), sess_options=so, providers=[_CPU])
        used = self._s.get_providers()
        self.provider = "cuda" if _CUDA in used else "cpu"
        if provider == "cuda" and self.provider != "cuda" and not self.fallback_reason:
            if strict:
                raise RuntimeError("providers: 'cuda' requested in strict mode but the session runs on " + ", ".join(used))
            self.fallback_reason = f"CUDA execution provider could not be loaded, the session uses {used}"

        def shape(s: Sequence[Any]) -> tuple[Any, ...]:
            return tuple(d if isinstance(d, int) and d >= 0 else None for d in s)

        self.inputs = [(i.name, shape(i.shape)) for i in self._s.get_inputs()]
        self.outputs = [(o.name, shape(o.shape)) for o in self._s.get_outputs()]
        self._in_names = [n for n, _ in self.inputs]

    def run(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        return list(self._s.run(None, dict(zip(self._in_names, arrays, strict=True))))


def create_session(
    model_path: str | os.PathLike[str],
    *,
    backend: Backend = "auto",
    providers: str = "auto",
    strict: bool | None = None,
    intra_op_threads: int = 0,
    inter_op_threads: int = 0,
    device_id: int = 0,
) -> Session:
    """Create a session on ``model_path`` with the chosen backend and provider (module docstring)."""
    import onnxruntime

    strict = strict_from_env() if strict is None else bool(strict)
    for name, v in (("intra_op_threads", intra_op_threads), ("inter_op_threads", inter_op_threads),
                    ("device_id", device_id)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{name}: expected an int >= 0, got {v!r}")
    if backend not in ("auto", "c", "python"):
        raise ValueError(f"backend: expected 'auto', 'c' or 'python', got {backend!r}")
    mp = Path(model_path)
    if not mp.is_file():
        raise FileNotFoundError(f"model_path: no such file: {mp}")
    chosen = backend
    if backend in ("auto", "c"):
        why = kernels.c_backend_error()
        if why is not None:
            if backend == "c":
                raise RuntimeError(f"backend: 'c' requested but the C API backend is unavailable: {why}")
            log.info("C API backend unavailable (%s); using onnxruntime's Python binding", why)
            chosen = "python"
        else:
            chosen = "c"
    requested = providers
    provider, warn = select_provider(providers, onnxruntime.get_available_providers(), strict=strict)
    if warn:
        warnings.warn(warn, RuntimeWarning, stacklevel=3)
        log.warning("%s", warn)
    cls = CSession if chosen == "c" else PySession
    # "auto" tries CUDA when listed but never fails on it: the fallback is silent there (logged).
    sess_strict = strict and str(requested).lower() != "auto"
    sess: Session = cls(mp, provider=provider, strict=sess_strict, intra_op_threads=int(intra_op_threads),
                        inter_op_threads=int(inter_op_threads), device_id=int(device_id))
    reason = getattr(sess, "fallback_reason", "")
    if reason:
        if str(requested).lower() == "auto":
            log.info("%s", reason)
        else:
            warnings.warn(reason, RuntimeWarning, stacklevel=3)
            log.warning("%s", reason)
    log.info("ONNX Runtime session for %s: backend %s, provider %s", mp, sess.backend, sess.provider)
    return sess
