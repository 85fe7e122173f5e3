"""Execution-provider selection and backend choice on a CPU-only machine."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import onnxruntime as ort
import pytest

import avemotion
from avemotion import _core, inference
from avemotion.inference import create_session, load_model, ort_library_path, select_provider

needs_c = pytest.mark.skipif(not getattr(_core, "HAVE_ORT", False),
                             reason="built without ONNX Runtime headers (scripts/fetch_ort_headers.sh)")
CPU_ONLY = ["CPUExecutionProvider"]
WITH_CUDA = ["CUDAExecutionProvider", "CPUExecutionProvider"]
pytestmark = pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(),
                                reason="these tests assume a CPU-only onnxruntime")


def test_select_provider_rules() -> None:
    assert select_provider("auto", CPU_ONLY) == ("cpu", None)
    assert select_provider("auto", WITH_CUDA) == ("cuda", None)
    assert select_provider("cpu", WITH_CUDA) == ("cpu", None)
    assert select_provider("cuda", WITH_CUDA, strict=True) == ("cuda", None)
    assert select_provider("CUDAExecutionProvider", WITH_CUDA) == ("cuda", None)
    prov, warn = select_provider("cuda", CPU_ONLY)
    assert prov == "cpu" and "not available" in warn and "onnxruntime-gpu" in warn
    with pytest.raises(RuntimeError, match="strict mode forbids falling back"):
        select_provider("cuda", CPU_ONLY, strict=True)
    with pytest.raises(ValueError, match="providers: expected 'auto', 'cpu' or 'cuda', got 'tpu'"):
        select_provider("tpu", CPU_ONLY)


@pytest.mark.parametrize("backend", [pytest.param("c", marks=needs_c), "python"])
def test_cuda_request_falls_back_with_warning(pool_model: Path, backend: str) -> None:
    with pytest.warns(RuntimeWarning, match="CUDA execution provider"):
        s = create_session(pool_model, backend=backend, providers="cuda", strict=False)
    assert s.provider == "cpu" and s.backend == backend


@pytest.mark.parametrize("backend", [pytest.param("c", marks=needs_c), "python"])
def test_cuda_strict_raises(pool_model: Path, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RuntimeError, match="strict"):
        create_session(pool_model, backend=backend, providers="cuda", strict=True)
    monkeypatch.setenv("AVEMOTION_STRICT", "1")
    with pytest.raises(RuntimeError, match="strict"):
        create_session(pool_model, backend=backend, providers="cuda")


def test_auto_is_cpu_and_logged(pool_model: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="avemotion.inference"), warnings.catch_warnings():
        warnings.simplefilter("error")
        s = create_session(pool_model, providers="auto")
    assert s.provider == "cpu"
    assert "provider cpu" in caplog.text


@needs_c
def test_c_core_cuda_fallback_when_provider_listed_but_unusable(pool_model: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """As with onnxruntime-gpu on a machine without a GPU: CUDA is listed, appending it fails."""
    lib = str(ort_library_path())
    m = _core.OrtModel(lib, str(pool_model), provider="cuda", strict=False)
    assert m.provider == "cpu" and "CUDA execution provider unavailable" in m.fallback_reason
    with pytest.raises(RuntimeError, match="'cuda' requested in strict mode but unavailable"):
        _core.OrtModel(lib, str(pool_model), provider="cuda", strict=True)
    monkeypatch.setattr(ort, "get_available_providers", lambda: WITH_CUDA)
    with caplog.at_level(logging.INFO, logger="avemotion.inference"), warnings.catch_warnings():
        warnings.simplefilter("error")  # "auto" falls back quietly (logged), even in strict mode
        s = create_session(pool_model, backend="c", providers="auto", strict=True)
    assert s.provider == "cpu" and "CUDA execution provider unavailable" in caplog.text
    with pytest.warns(RuntimeWarning, match="CUDA execution provider unavailable"):
        create_session(pool_model, backend="c", providers="cuda")


@needs_c
def test_backend_choice(pool_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert inference.available_backend() == "c"
    assert avemotion.build_info()["ort_backend"] == "c"
    info = inference.backend_info()
    assert info["library_version"] == ort.__version__ and info["headers_api_version"] >= 1
    assert create_session(pool_model).backend == "c"
    monkeypatch.setattr(avemotion.kernels, "c_backend_error", lambda: "built without ONNX Runtime headers")
    assert inference.available_backend() == "python"
    assert create_session(pool_model).backend == "python"
    with pytest.raises(RuntimeError, match="backend: 'c' requested but the C API backend is unavailable: built without"):
        create_session(pool_model, backend="c")


def test_argument_validation(pool_model: Path, bundle_dir: Path) -> None:
    with pytest.raises(ValueError, match="backend: expected 'auto', 'c' or 'python', got 'gpu'"):
        create_session(pool_model, backend="gpu")
    with pytest.raises(ValueError, match="intra_op_threads: expected an int >= 0, got -2"):
        create_session(pool_model, intra_op_threads=-2)
    with pytest.raises(FileNotFoundError, match="model_path: no such file"):
        create_session(pool_model.with_name("missing.onnx"))
    m = load_model(bundle_dir, intra_op_threads=1, inter_op_threads=1)
    assert m.provider == "cpu"


def test_python_backend_cuda_listed_but_unusable(pool_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ort, "get_available_providers", lambda: WITH_CUDA)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # onnxruntime's own notice
        with pytest.warns(RuntimeWarning, match="CUDA execution provider"):
            s = create_session(pool_model, backend="python", providers="cuda")
        assert s.provider == "cpu"
        with pytest.raises(RuntimeError, match="strict"):
            create_session(pool_model, backend="python", providers="cuda", strict=True)
