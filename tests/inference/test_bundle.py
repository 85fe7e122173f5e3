"""Bundle writing and every verification failure mode."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from avemotion.bundle import (
    BUNDLE_JSON,
    MODEL_FILE,
    STATS_FILES,
    BundleError,
    read_bundle,
    sha256_file,
    write_bundle,
)
from avemotion.inference import load_model
from avemotion.testing import build_tiny_two_head_model, write_test_stats

RENAMED = {"audio": "x_audio", "audio_mask": "m_audio", "video": "x_video", "video_mask": "m_video"}


def _rehash(bundle: Path, name: str) -> None:
    meta = json.loads((bundle / BUNDLE_JSON).read_text())
    p = bundle / name
    meta["files"][name] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
    (bundle / BUNDLE_JSON).write_text(json.dumps(meta))


def test_written_bundle_reads_back(bundle_dir: Path) -> None:
    b = read_bundle(bundle_dir)
    assert b.dims == {"audio": 89, "video": 512}
    assert b.labels == ("anger", "disgust", "fear", "happy", "neutral", "sad")
    assert b.audio_mean.shape == (89,) and b.video_std.shape == (512,)
    meta = json.loads((bundle_dir / BUNDLE_JSON).read_text())
    assert set(meta["files"]) == {MODEL_FILE, *STATS_FILES.values()}
    for name, info in meta["files"].items():
        assert info["sha256"] == sha256_file(bundle_dir / name)
    assert meta["training"]["source"] == "avemotion.testing"
    assert meta["window_s"] == 2.0 and meta["features"]["audio_hop_s"] == 0.1
    assert not [p for p in bundle_dir.iterdir() if p.name.startswith(".")]  # no temp files left


def test_missing_directory_and_bundle_json(tmp_path: Path, bundle_copy: Path) -> None:
    with pytest.raises(FileNotFoundError, match="model bundle directory not found"):
        load_model(tmp_path / "nope")
    (bundle_copy / BUNDLE_JSON).unlink()
    with pytest.raises(BundleError, match=r"bundle.json: missing .*not a complete model bundle"):
        load_model(bundle_copy)


@pytest.mark.parametrize("name", [MODEL_FILE, *STATS_FILES.values()])
def test_missing_file(bundle_copy: Path, name: str) -> None:
    (bundle_copy / name).unlink()
    with pytest.raises(BundleError, match=f"{name}: missing"):
        load_model(bundle_copy)


@pytest.mark.parametrize("name", [MODEL_FILE, STATS_FILES["video"]])
def test_truncated_file(bundle_copy: Path, name: str) -> None:
    p = bundle_copy / name
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match=rf"{name}: truncated: expected {len(data)} bytes, got {len(data) // 2}"):
        load_model(bundle_copy)


@pytest.mark.parametrize("name", [MODEL_FILE, STATS_FILES["audio"]])
def test_altered_file_same_size(bundle_copy: Path, name: str) -> None:
    p = bundle_copy / name
    data = bytearray(p.read_bytes())
    data[-3] ^= 0x01
    p.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=f"{name}: altered: sha256 .* does not match"):
        load_model(bundle_copy)


def test_damaged_bundle_json(bundle_copy: Path) -> None:
    p = bundle_copy / BUNDLE_JSON
    text = p.read_text()
    p.write_text(text[: len(text) // 2])
    with pytest.raises(BundleError, match="not valid JSON"):
        load_model(bundle_copy)
    meta = json.loads(text)
    meta["format_version"] = 99
    p.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="expected format_version 1, got 99"):
        load_model(bundle_copy)
    meta["format_version"] = 1
    del meta["labels"]
    p.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="missing key 'labels'"):
        load_model(bundle_copy)


def test_stats_dims_disagree_with_bundle_json(bundle_copy: Path) -> None:
    meta = json.loads((bundle_copy / BUNDLE_JSON).read_text())
    meta["dims"]["video"] = 128
    (bundle_copy / BUNDLE_JSON).write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=r"video stats have 512 dims, bundle.json dims\['video'\] is 128"):
        load_model(bundle_copy)


def test_stats_dims_disagree_with_model(bundle_copy: Path, tmp_path: Path) -> None:
    """Files intact (hashes updated) but the model expects 88 audio dims: a clear error."""
    build_tiny_two_head_model(bundle_copy / MODEL_FILE, audio_dim=88, seed=1)
    _rehash(bundle_copy, MODEL_FILE)
    with pytest.raises(BundleError, match=r"input 'audio' \(audio\): expected feature dim 89 .*got 88"):
        load_model(bundle_copy)


def test_write_refuses_disagreeing_stats_and_leaves_nothing(tmp_path: Path) -> None:
    model = build_tiny_two_head_model(tmp_path / "src" / "m.onnx", audio_dim=88)
    write_test_stats(tmp_path / "src", audio_dim=89)
    out = tmp_path / "out"
    with pytest.raises(BundleError, match="expected feature dim 89"):
        write_bundle(out, onnx_path=model, stats_dir=tmp_path / "src")
    assert not out.exists()


def test_model_input_names_differ_from_bundle_json(tmp_path: Path, bundle_copy: Path) -> None:
    build_tiny_two_head_model(bundle_copy / MODEL_FILE, seed=1, input_names=RENAMED)
    _rehash(bundle_copy, MODEL_FILE)
    with pytest.raises(BundleError, match=r"bundle.json names input 'audio' for 'audio', but the model's inputs are \['m_audio'"):
        load_model(bundle_copy)
    # write_bundle catches it too, and accepts the mapping when given
    src = tmp_path / "src"
    model = build_tiny_two_head_model(src / "m.onnx", input_names=RENAMED)
    write_test_stats(src)
    with pytest.raises(BundleError, match="names input 'audio'"):
        write_bundle(tmp_path / "o1", onnx_path=model, stats_dir=src)
    out = write_bundle(tmp_path / "o2", onnx_path=model, stats_dir=src, settings={"inputs": RENAMED})
    assert read_bundle(out).inputs == RENAMED


def test_rewrite_existing_bundle(tmp_path: Path, bundle_copy: Path) -> None:
    src = tmp_path / "src"
    model = build_tiny_two_head_model(src / "m.onnx", seed=9)
    write_test_stats(src, seed=9)
    write_bundle(bundle_copy, onnx_path=model, stats_dir=src, settings={"laughter_threshold": 0.7})
    b = read_bundle(bundle_copy)
    assert b.laughter_threshold == 0.7
    assert sha256_file(bundle_copy / MODEL_FILE) == sha256_file(model)


def test_write_bundle_argument_errors(tmp_path: Path) -> None:
    src = tmp_path / "src"
    model = build_tiny_two_head_model(src / "m.onnx")
    with pytest.raises(FileNotFoundError, match="stats_dir: expected audio_normalization_stats.pkl"):
        write_bundle(tmp_path / "o", onnx_path=model, stats_dir=src)
    write_test_stats(src)
    with pytest.raises(FileNotFoundError, match="onnx_path: no such file"):
        write_bundle(tmp_path / "o", onnx_path=src / "nope.onnx", stats_dir=src)
    with pytest.raises(ValueError, match=r"settings: unknown keys \['treshold'\]"):
        write_bundle(tmp_path / "o", onnx_path=model, stats_dir=src, settings={"treshold": 0.5})
    with pytest.raises(ValueError, match=r"laughter_threshold'\]: expected a value in \[0, 1\], got 2.0"):
        write_bundle(tmp_path / "o", onnx_path=model, stats_dir=src, settings={"laughter_threshold": 2})
    with pytest.raises(BundleError, match="has 6 classes, bundle.json has 2 labels"):
        write_bundle(tmp_path / "o", onnx_path=model, stats_dir=src, settings={"labels": ["x", "y"]})
    assert not (tmp_path / "o").exists()


class _Evil:
    def __reduce__(self):  # pragma: no cover - never executed by the restricted loader
        return (print, ("pwned",))


def test_stats_pickle_never_executes_code(bundle_copy: Path) -> None:
    p = bundle_copy / STATS_FILES["audio"]
    p.write_bytes(pickle.dumps({"mean": np.zeros(89, np.float32), "std": np.ones(89, np.float32), "x": _Evil()}))
    _rehash(bundle_copy, STATS_FILES["audio"])
    with pytest.raises(BundleError, match="audio_normalization_stats.pkl"):
        load_model(bundle_copy)


def test_not_a_model(bundle_copy: Path) -> None:
    (bundle_copy / MODEL_FILE).write_bytes(b"garbage" * 10)
    _rehash(bundle_copy, MODEL_FILE)
    with pytest.raises(RuntimeError, match="cannot create an ONNX Runtime session"):
        load_model(bundle_copy)
    shutil.rmtree(bundle_copy)


def test_bundle_json_path_and_unsafe_file_names(bundle_copy: Path) -> None:
    assert read_bundle(bundle_copy / BUNDLE_JSON).path == bundle_copy
    meta = json.loads((bundle_copy / BUNDLE_JSON).read_text())
    meta["files"]["../outside.bin"] = {"sha256": "0" * 64, "bytes": 1}
    (bundle_copy / BUNDLE_JSON).write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="expected a plain file name"):
        read_bundle(bundle_copy)
