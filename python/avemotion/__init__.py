"""avemotion: real-time audio-visual emotion recognition with a laughter/humor head.

Public names (kept stable)::

    avemotion.normalize(x, mean, std, out=None)   # C++ SIMD kernel behind a validating wrapper
    avemotion.RunningStats(dim)                   # mergeable mean/std accumulator
    avemotion.build_info()                        # compiler, SIMD level, ONNX Runtime backend
    avemotion.load_model(path) -> Predictor       # two-head ONNX model bundle
    avemotion.feature_normalizer, avemotion.streaming, avemotion.features, avemotion.data

Heavy dependencies (torch, tensorflow, opensmile, av) are imported only by the modules that need them.
"""

from __future__ import annotations

import importlib
from typing import Any

from avemotion.kernels import RunningStats, build_info, normalize

__version__ = "0.1.0"

__all__ = ["RunningStats", "build_info", "load_model", "normalize", "__version__"]

_SUBMODULES = {"feature_normalizer", "streaming", "inference", "bundle", "features", "data", "cli"}


def load_model(path: Any = None, **kwargs: Any) -> Any:
    """Load a model bundle directory and return a ``Predictor`` (see ``avemotion.inference``)."""
    from avemotion.inference import load_model as _load

    return _load(path, **kwargs)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"avemotion.{name}")
    raise AttributeError(f"module 'avemotion' has no attribute {name!r}")
