from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("facenet_pytorch")
pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.video

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
def onnx_path(tmp_path_factory, net) -> Path:
    from avemotion.features.export_onnx import export_facenet

    return export_facenet(tmp_path_factory.mktemp("onnx") / "facenet.onnx", net=net)


def test_mtcnn_finds_the_astronaut(detector: V.FaceDetector, astronaut: np.ndarray) -> None:
    dets = detector.detect([astronaut, np.zeros_like(astronaut), astronaut])
    assert dets[1] is None
    for d in (dets[0], dets[2]):
        assert d is not None and d.prob > 0.99
        assert d.face.shape == (3, 160, 160) and d.face.dtype == np.float32
        x1, y1, x2, y2 = d.box
        assert (
            150 < x1 < 220 and 40 < y1 < 100 and 240 < x2 < 300 and 140 < y2 < 200
        )  # her face, top centre
    np.testing.assert_array_equal(dets[0].face, dets[2].face)


def test_detection_on_shrunk_frames(detector: V.FaceDetector, astronaut: np.ndarray) -> None:
    full = V.FaceDetector(detect_max_side=None).detect([astronaut])[0]
    small = V.FaceDetector(detect_max_side=256).detect([astronaut])[0]
    assert full is not None and small is not None and small.prob > 0.99

    def iou(a: np.ndarray, b: np.ndarray) -> float:
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
        return w * h / (area - w * h)

    assert iou(full.box, small.box) > 0.85  # the same face, box in full-resolution pixels
    with pytest.raises(ValueError, match="detect_max_side"):
        V.FaceDetector(detect_max_side=10)


def test_detector_rejects_bad_frames(detector: V.FaceDetector) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        detector.detect([np.zeros((10, 10), np.uint8)])


@pytest.mark.slow
def test_torch_and_onnx_agree(
    net, onnx_path: Path, detector: V.FaceDetector, astronaut: np.ndarray
) -> None:
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
    # 25 fps frames are at multiples of 0.04 s; from 0.4 s to 2.0 s at 2.5 fps: 0.4, 0.8, 1.2, 1.6 s
    times = [t for t, _ in iter_video_frames(media["face_av"], fps=2.5, start=0.4, end=2.0)]
    np.testing.assert_allclose(times, [0.0, 0.4, 0.8, 1.2], atol=1e-6)
    # 3 fps does not divide 25 fps: each sampling instant k/3 takes the first frame at or after it
    times = [t for t, _ in iter_video_frames(media["face_av"], fps=3, end=1.0)]
    np.testing.assert_allclose(times, [0.0, 0.36, 0.68], atol=1e-6)
    frames = list(
        iter_video_frames(media["face_av"], fps=100)
    )  # above the stream rate: every frame
    assert (
        len(frames) == 60 and frames[0][1].shape == (160, 160, 3) and frames[0][1].dtype == np.uint8
    )


def test_weights_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(V.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("AVEMOTION_CACHE", str(tmp_path / "cache"))  # nothing converted there
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torchhome"))
    with pytest.raises(V.FaceNetWeightsMissing) as err:
        V.find_facenet_weights()
    msg = str(err.value)
    assert V.WEIGHTS_ENV in msg and V.WEIGHTS_URL in msg and "avemotion weights" in msg
    assert str(tmp_path / "cache") in msg and str(tmp_path / "torchhome") in msg
    with pytest.raises(V.FaceNetWeightsMissing, match="argument"):
        V.load_facenet(tmp_path / "nope.pt", allow_random_weights=True)
    monkeypatch.setenv(V.WEIGHTS_ENV, str(tmp_path / "missing.pt"))
    with pytest.raises(V.FaceNetWeightsMissing, match="missing.pt"):
        V.find_facenet_weights()
    import torch

    net = V.load_facenet(allow_random_weights=True)
    assert net.avemotion_weights == "random" and net.avemotion_identity.name == V.RANDOM_NAME
    state = {k: v.clone() for k, v in net.state_dict().items()}
    state["logits.weight"] = torch.zeros(8631, 512)
    # a checkpoint in torch's hub cache is not picked up implicitly (the default must not depend on
    # the files lying around: bundles record their embedder) ...
    ckpt = V.default_weights_path()
    ckpt.parent.mkdir(parents=True)
    torch.save(state, ckpt)
    monkeypatch.delenv(V.WEIGHTS_ENV)
    with pytest.raises(V.FaceNetWeightsMissing):
        V.find_facenet_weights()
    # ... but loaded when named (argument or environment; logits.* of the classifier are dropped)
    monkeypatch.setenv(V.WEIGHTS_ENV, str(ckpt))
    assert V.find_facenet_weights() == ckpt
    loaded = V.load_facenet()
    assert loaded.avemotion_identity == V.EmbedderIdentity(
        "facenet-vggface2-20180402-114759", net.avemotion_identity.sha256
    )  # the identity is the weights' digest: the same weights in another file are the same embedder
    x = np.random.default_rng(1).standard_normal((1, 3, 160, 160)).astype(np.float32)
    np.testing.assert_array_equal(V.TorchEmbedder(loaded)(x), V.TorchEmbedder(net)(x))
    assert isinstance(V.make_embedder(), V.TorchEmbedder)  # a named state dict runs in torch
    monkeypatch.delenv(V.WEIGHTS_ENV)
    other = tmp_path / "mine.pt"
    torch.save(state, other)
    assert V.load_facenet(other).avemotion_identity.name == "facenet-state-dict:mine.pt"


def test_onnx_export_carries_the_identity(net, onnx_path: Path) -> None:
    assert V.OnnxEmbedder(onnx_path).identity == V.TorchEmbedder(net).identity
    assert V.TorchEmbedder(net).identity.name == V.RANDOM_NAME


def test_mtcnn_onnx_gives_the_same_detections(tmp_path: Path, detector, astronaut) -> None:
    from avemotion.features.facenet_weights import export_mtcnn

    d = export_mtcnn(tmp_path)
    onnx_det = V.FaceDetector(onnx_dir=d)
    frames = [astronaut, np.zeros_like(astronaut)]
    a, b = detector.detect(frames), onnx_det.detect(frames)
    assert a[1] is None and b[1] is None
    np.testing.assert_allclose(a[0].box, b[0].box, atol=1e-2)
    assert a[0].prob == pytest.approx(b[0].prob, abs=1e-5)
    np.testing.assert_allclose(a[0].face, b[0].face, atol=1e-5)
    with pytest.raises(FileNotFoundError, match="pnet.onnx"):
        V.FaceDetector(onnx_dir=tmp_path / "none")
