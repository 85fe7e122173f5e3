"""Fixtures for the inference tests: tiny two-head models and bundles built with onnx.helper."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from avemotion import _core  # noqa: E402
from avemotion.testing import build_tiny_two_head_model, make_test_bundle  # noqa: E402

needs_c = pytest.mark.skipif(not getattr(_core, "HAVE_ORT", False),
                             reason="built without ONNX Runtime headers (scripts/fetch_ort_headers.sh)")

RENAMED = {"audio": "x_audio", "audio_mask": "m_audio", "video": "x_video", "video_mask": "m_video"}


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid pool-model bundle. Do not modify: copy it (see ``bundle_copy``)."""
    return make_test_bundle(tmp_path_factory.mktemp("bundles") / "pool", seed=1)


@pytest.fixture(scope="session")
def gru_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_test_bundle(tmp_path_factory.mktemp("bundles") / "gru", kind="gru", seed=2)


@pytest.fixture(scope="session")
def renamed_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Same weights as ``bundle_dir`` (seed 1) but the model's inputs are named differently."""
    return make_test_bundle(tmp_path_factory.mktemp("bundles") / "renamed", seed=1, input_names=RENAMED)


@pytest.fixture(scope="session")
def pool_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_two_head_model(tmp_path_factory.mktemp("models") / "pool.onnx", seed=3)


@pytest.fixture()
def bundle_copy(bundle_dir: Path, tmp_path: Path) -> Path:
    import shutil

    dst = tmp_path / "bundle"
    shutil.copytree(bundle_dir, dst)
    return dst
