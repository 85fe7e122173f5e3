"""Device selection for MTCNN/FaceNet (CPU-only here: CUDA paths via a monkeypatched torch.cuda)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("facenet_pytorch")

from avemotion.features import video as V  # noqa: E402


@pytest.fixture()
def fake_cuda(monkeypatch: pytest.MonkeyPatch):
    """torch claims 2 CUDA devices (nothing is ever run on them)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.fixture()
def no_cuda(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("AVEMOTION_STRICT", raising=False)


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((3, 3, V.FACE_SIZE, V.FACE_SIZE)).astype(np.float32)


@pytest.fixture(scope="module")
def net():
    return V.load_facenet(allow_random_weights=True)


@pytest.mark.parametrize("spec,want", [("cpu", "cpu"), ("CUDA", "cuda"), (" auto ", "auto"), ("cuda:1", "cuda:1"),
                                       ("cuda:01", "cuda:1")])
def test_check_device_normalises(spec: str, want: str) -> None:
    assert V.check_device(spec) == want


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cuda:x", "cuda:-1", "", None, 0, "mps"])
def test_check_device_rejects(spec: object) -> None:
    with pytest.raises(ValueError, match=r"--device: expected 'cpu', 'cuda', 'cuda:N' or 'auto'"):
        V.check_device(spec, name="--device")


def test_resolve_with_cuda(fake_cuda) -> None:
    assert V.resolve_device("auto") == torch.device("cuda")
    assert V.resolve_device("cuda") == torch.device("cuda")
    assert V.resolve_device("cuda:1") == torch.device("cuda", 1)
    assert V.resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match=r"device: 'cuda:2' but only 2 CUDA device\(s\)"):
        V.resolve_device("cuda:2")


def test_resolve_without_cuda(no_cuda, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="avemotion.features.video"):
        assert V.resolve_device("auto") == torch.device("cpu")
        assert "auto: using cpu" in caplog.text
        caplog.clear()
        assert V.resolve_device("cuda:1") == torch.device("cpu")
    assert "device='cuda:1' but torch sees no CUDA device" in caplog.text and "using the CPU" in caplog.text
    with pytest.raises(RuntimeError, match="strict mode"):
        V.resolve_device("cuda", strict=True)
    monkeypatch.setenv("AVEMOTION_STRICT", "1")
    with pytest.raises(RuntimeError, match=r"device='cuda' but torch sees no CUDA device.*AVEMOTION_STRICT"):
        V.resolve_device("cuda")
    assert V.resolve_device("auto") == torch.device("cpu")  # auto never fails


def test_embeddings_identical_on_cpu_and_auto(no_cuda, net, faces: np.ndarray) -> None:
    base = V.TorchEmbedder(net)(faces)
    for dev in ("cpu", "auto", "cuda"):  # cuda falls back to the CPU here (with a warning)
        e = V.TorchEmbedder(net, device=dev)
        assert e.device == torch.device("cpu")
        out = e(faces)
        assert out.dtype == np.float32 and out.shape == (3, V.VIDEO_DIM)
        np.testing.assert_array_equal(out, base)
    assert next(net.parameters()).device.type == "cpu"


def test_torch_embedder_moves_net_to_cuda(fake_cuda) -> None:
    class FakeNet:
        moved_to: object = None

        def to(self, device):  # what torch.nn.Module.to receives
            self.moved_to = device
            return self

    fake = FakeNet()
    e = V.TorchEmbedder(fake, device="auto")
    assert e.device == torch.device("cuda") and fake.moved_to == torch.device("cuda")
    e = V.TorchEmbedder(FakeNet(), device="cuda:1")
    assert e.net.moved_to == torch.device("cuda", 1)


def test_torch_embedder_sends_faces_to_its_device(net, faces: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """The non-CPU path: faces go through ``.to(device)``, results come back as CPU float32 (shown
    with torch's ``meta`` device standing in for CUDA: shapes only, no data)."""
    seen = []

    class Net(torch.nn.Module):
        def forward(self, x):
            seen.append(x.device)
            return torch.zeros((x.shape[0], V.VIDEO_DIM), dtype=torch.float64)  # on the CPU

    e = V.TorchEmbedder(Net())
    e.device = torch.device("meta")
    out = e(faces)
    assert seen == [torch.device("meta")] and out.dtype == np.float32 and out.shape == (3, V.VIDEO_DIM)


def test_detections_identical_on_cpu_and_auto(no_cuda) -> None:
    from skimage import data

    img = data.astronaut()
    a = V.FaceDetector().detect([img, img[::-1].copy()])
    b = V.FaceDetector(device="auto")
    assert b.device == torch.device("cpu") and str(b.mtcnn.device) == "cpu"
    for x, y in zip(a, b.detect([img, img[::-1].copy()]), strict=True):
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_array_equal(x.face, y.face)
            np.testing.assert_array_equal(x.box, y.box)
            assert x.prob == y.prob


def test_detector_rejects_bad_device() -> None:
    with pytest.raises(ValueError, match="device: expected"):
        V.FaceDetector(device="gpu")
    with pytest.raises(ValueError, match="device: expected"):
        V.VideoExtractor(V.TorchEmbedder.__new__(V.TorchEmbedder), device="tpu")


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 160, 160])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, 160, 160])
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    p = tmp_path_factory.mktemp("onnx") / "id.onnx"
    onnx.save(m, p)
    return p


def test_onnx_embedder_providers(tiny_onnx: Path, monkeypatch: pytest.MonkeyPatch,
                                 caplog: pytest.LogCaptureFixture) -> None:
    ort = pytest.importorskip("onnxruntime")
    monkeypatch.delenv("AVEMOTION_STRICT", raising=False)
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert V.OnnxEmbedder(tiny_onnx, providers="cpu").provider == "CPUExecutionProvider"
    assert V.OnnxEmbedder(tiny_onnx, providers="auto").provider == "CPUExecutionProvider"
    with caplog.at_level(logging.WARNING):
        assert V.OnnxEmbedder(tiny_onnx, providers="cuda").provider == "CPUExecutionProvider"
    assert "CUDA execution provider requested but not available" in caplog.text
    with pytest.raises(RuntimeError, match="strict mode"):
        V.OnnxEmbedder(tiny_onnx, providers="cuda:0", strict=True)
    with pytest.raises(ValueError, match="providers: expected"):
        V.OnnxEmbedder(tiny_onnx, providers="gpu")
    # a list of ORT names still passes through unchanged
    assert V.OnnxEmbedder(tiny_onnx, providers=["CPUExecutionProvider"]).provider == "CPUExecutionProvider"


def test_extract_settings_and_gpu_worker_rule(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    from avemotion.features.extract import ExtractSettings, gpu_workers

    with pytest.raises(ValueError, match="device: expected"):
        ExtractSettings(device="gpu")
    assert ExtractSettings(device="CUDA:0").device == "cuda:0"
    s = ExtractSettings(device="cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("AVEMOTION_STRICT", raising=False)
    assert gpu_workers(s, 4) == 4  # fell back to the CPU: the pool is kept
    assert gpu_workers(ExtractSettings(device="cpu"), 4, "ray") == 4
    assert gpu_workers(ExtractSettings(device="cuda", video=False), 4) == 4
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with caplog.at_level(logging.WARNING):
        assert gpu_workers(s, 4) == 1
    assert "one worker" in caplog.text
    assert gpu_workers(ExtractSettings(device="auto"), 3) == 1
    with pytest.raises(ValueError, match="ray backend"):
        gpu_workers(s, 2, "ray")


def test_pipeline_extractor_cached_per_device(no_cuda) -> None:
    from avemotion.pipeline import get_video_extractor

    a = get_video_extractor(random_weights=True, device="cpu")
    assert get_video_extractor(random_weights=True, device="CPU") is a
    b = get_video_extractor(random_weights=True, device="auto")
    assert b is not a and b.embedder.device == torch.device("cpu") and b.detector.device == torch.device("cpu")
    with pytest.raises(ValueError, match="device: expected"):
        get_video_extractor(random_weights=True, device="gpu")
