"""Shared test set-up.

STACK.md's hazard: with the CUDA torch build, importing TensorFlow and *then* anything that loads
triton (torchvision does) kills the process. Importing torch/torchvision first is safe, so when both
stacks are installed this conftest imports torchvision before any test module can import TensorFlow.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"

if importlib.util.find_spec("torchvision") is not None and importlib.util.find_spec("tensorflow") is not None:
    import torch  # noqa: F401
    import torchvision  # noqa: F401


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data/real`` (real corpus files); skips when this checkout has none beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder not found at {SHARED_DATA}")
    return SHARED_DATA
