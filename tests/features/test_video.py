from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("facenet_pytorch")
pytest.importorskip("onnxruntime")

from avemotion.features import video as V  # noqa: E402
from avemotion.features.media import iter_video_frames  # noqa: E402


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="module")
def net():
    return V.load_facenet(allow_random_weights=True)


@pytest.fixture(scope="module")
def detector() -> V.FaceDetector:
    return V.FaceDetector()


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory, net, monkeypatch_module) -> Path:
    from avemotion.features.export_onnx import export_facenet

    monkeypatch_module.setattr(V, "load_facenet", lambda *a, **k: net)
    return export_facenet(tmp_path_factory.mktemp("onnx") / "facenet.onnx", allow_random_weights=True)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_mtcnn_finds_the_astronaut(detector: V.FaceDetector, astronaut: np.ndarray) -> None:
    dets = detector.detect([astronaut, np.zeros_like(astronaut), astronaut])
    assert dets[1] is None
    for d in (dets[0], dets[2]):
        assert d is not None and d.prob > 0.99
        assert d.face.shape == (3, 160, 160) and d.face.dtype == np.float32
        x1, y1, x2, y2 = d.box
        assert 150 < x1 < 220 and 40 < y1 < 100 and 240 < x2 < 300 and 140 < y2 < 200  # her face, top centre
    np.testing.assert_array_equal(dets[0].face, dets[2].face)


def test_detector_rejects_bad_frames(detector: V.FaceDetector) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        detector.detect([np.zeros((10, 10), np.uint8)])


def test_torch_and_onnx_agree(net, onnx_path: Path, detector: V.FaceDetector, astronaut: np.ndarray) -> None:
    torch_e, onnx_e = V.TorchEmbedder(net), V.OnnxEmbedder(onnx_path)
    face = detector.detect([astronaut])[0].face
    faces = np.stack([face, face[:, ::-1].copy(), np.zeros_like(face)])
    for batch in (faces[:1], faces):
        a, b = torch_e(batch), onnx_e(batch)
        assert a.shape == (len(batch), 512)
        np.testing.assert_allclose(a, b, atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert onnx_e(np.zeros((0, 3, 160, 160), np.float32)).shape == (0, 512)
    with pytest.raises(ValueError, match="shape"):
        onnx_e(np.zeros((1, 3, 100, 100), np.float32))


def test_video_file_steps_and_mask(media, net, detector: V.FaceDetector) -> None:
    ex = V.VideoExtractor(V.TorchEmbedder(net), detector, batch_size=4)
    f = V.extract_video_file(media["face_av"], fps=2.5, extractor=ex)
    assert len(f) == 6  # 2.4 s at 2.5 fps
    np.testing.assert_allclose(f.times, np.arange(6) / 2.5, atol=1e-6)
    assert f.mask.all() and np.all(f.probs > 0.99)
    np.testing.assert_allclose(np.linalg.norm(f.steps, axis=1), 1.0, atol=1e-5)
    g = V.extract_video_file(media["noface"], fps=2.5, extractor=ex)
    assert len(g) == 4 and not g.mask.any() and not g.steps.any()


def test_frame_sampling_and_range(media) -> None:
    # 25 fps frames are at multiples of 0.04 s; from 0.4 s to 2.0 s at 2 fps: 0.4, 0.9, 1.4, 1.9 s
    times = [t for t, _ in iter_video_frames(media["face_av"], fps=2, start=0.4, end=2.0)]
    np.testing.assert_allclose(times, [0.0, 0.5, 1.0, 1.5], atol=1e-6)
    frames = list(iter_video_frames(media["face_av"], fps=100))  # above the stream rate: every frame
    assert len(frames) == 60 and frames[0][1].shape == (256, 256, 3) and frames[0][1].dtype == np.uint8


def test_weights_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(V.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torchhome"))
    with pytest.raises(V.FaceNetWeightsMissing) as err:
        V.find_facenet_weights()
    msg = str(err.value)
    assert V.WEIGHTS_ENV in msg and V.WEIGHTS_URL in msg and str(tmp_path / "torchhome") in msg
    with pytest.raises(V.FaceNetWeightsMissing, match="argument"):
        V.load_facenet(tmp_path / "nope.pt", allow_random_weights=True)
    monkeypatch.setenv(V.WEIGHTS_ENV, str(tmp_path / "missing.pt"))
    with pytest.raises(V.FaceNetWeightsMissing, match="missing.pt"):
        V.find_facenet_weights()
    # a checkpoint in the hub cache is found and loaded (logits.* of the classifier are dropped)
    import torch

    monkeypatch.delenv(V.WEIGHTS_ENV)
    net = V.load_facenet(allow_random_weights=True)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    state["logits.weight"] = torch.zeros(8631, 512)
    ckpt = V.default_weights_path()
    ckpt.parent.mkdir(parents=True)
    torch.save(state, ckpt)
    assert V.find_facenet_weights() == ckpt
    loaded = V.load_facenet()
    x = np.random.default_rng(1).standard_normal((1, 3, 160, 160)).astype(np.float32)
    np.testing.assert_array_equal(V.TorchEmbedder(loaded)(x), V.TorchEmbedder(net)(x))
