"""Shared test set-up.

Two libraries crash when loaded *after* TensorFlow in the same process, and are fine before it:
- STACK.md's hazard: with the CUDA torch build, TensorFlow then triton (torchvision loads it) kills
  the process;
- openSMILE's C library segfaults at its first run when loaded after TensorFlow.
Production code keeps them in separate processes (training never extracts features). In one pytest
process this conftest loads torchvision and opensmile first, and runs the TensorFlow tests
(tests/training) last.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"

if importlib.util.find_spec("tensorflow") is not None:
    if importlib.util.find_spec("torchvision") is not None:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    if importlib.util.find_spec("opensmile") is not None:
        import opensmile  # noqa: F401


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """TensorFlow tests last (stable order otherwise): nothing after them loads another library."""
    training = Path(__file__).resolve().parent / "training"
    items.sort(key=lambda item: training in Path(str(item.path)).parents)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data/real`` (real corpus files); skips when this checkout has none beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder not found at {SHARED_DATA}")
    return SHARED_DATA
