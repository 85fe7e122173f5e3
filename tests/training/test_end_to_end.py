"""Tiny end-to-end runs through the CLI: train → export → load_model → predict, and the synthetic
demo bundle's reproduction command (at tiny size; the bundle is a test fixture, tests/fixtures/synthetic_bundle)."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("tf2onnx") is None:
    pytest.skip("needs tensorflow and tf2onnx (the [train] extra)", allow_module_level=True)

from avemotion.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "training" / "dynamic_padding_no_leakage.toml"
DEMO = ROOT / "tests" / "fixtures" / "synthetic_bundle"  # the synthetic demo bundle (no longer the default)
TINY = ["--set", "training.epochs=2", "--set", "training.max_steps_per_epoch=3", "--set", "training.batch_size=8",
        "--set", "model.d_model=8", "--set", "model.ff_dim=8", "--set", "model.fusion_dim=8",
        "--set", "export.verify_batches=2"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("e2e")
    run, bundle = base / "run", base / "bundle"
    rc = main(["train", "--config", str(CONFIG), "--synthetic", "40", "--out", str(run),
               "--bundle-out", str(bundle), "--no-progress", *TINY])
    assert rc == 0
    return run, bundle


def test_run_directory_artefacts(tiny_run: tuple[Path, Path]) -> None:
    run, _ = tiny_run
    for rel in ("config.resolved.json", "metrics.json", "model.weights.h5", "model.onnx",
                "stats/audio_normalization_stats.pkl", "stats/video_normalization_stats.pkl",
                "plots/val_emotion_confusion.png", "plots/test_laughter_pr.png", "checkpoint/state.json"):
        assert (run / rel).is_file(), rel
    assert any((run / "logs" / "train").iterdir()) and any((run / "logs" / "val").iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["summary"]["epochs_run"] == 2 and len(metrics["history"]) == 2
    assert metrics["history"][0]["steps"] <= 3
    for key in ("accuracy", "uar", "macro_f1", "confusion"):
        assert key in metrics["splits"]["test"]["emotion"]
    for key in ("roc_auc", "pr_auc", "f1", "threshold"):
        assert key in metrics["splits"]["test"]["laughter"]
    resolved = json.loads((run / "config.resolved.json").read_text())
    assert resolved["config"]["model"]["d_model"] == 8
    assert resolved["provenance"]["data"]["normalization_stats"] == "computed on the train split only"


def test_onnx_bundle_matches_keras(tiny_run: tuple[Path, Path]) -> None:
    import avemotion
    from avemotion.training.config import config_from_dict
    from avemotion.training.export import random_batches
    from avemotion.training.model import build_model

    run, bundle = tiny_run
    cfg = config_from_dict(json.loads((run / "config.resolved.json").read_text())["config"])
    model = build_model(cfg)
    model.load_weights(str(run / "model.weights.h5"))
    predictor = avemotion.load_model(bundle)
    meta = json.loads((bundle / "bundle.json").read_text())
    assert meta["training"]["demonstration"] is True and meta["training"]["export"]["max_abs_diff_vs_keras"] <= 1e-5
    mean_a, std_a = predictor.bundle.stats("audio") if hasattr(predictor, "bundle") else (None, None)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    for x in random_batches(cfg, 3, seed=11):
        ref = model(x, training=False)
        got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, x), strict=False))
        np.testing.assert_allclose(got["emotion"], np.asarray(ref["emotion"]), atol=1e-5)
        np.testing.assert_allclose(got["laughter"], np.asarray(ref["laughter"]), atol=1e-5)
    # load_model → predict on raw features equals Keras on features normalized with the run's stats
    from avemotion.feature_normalizer import load_normalization_stats

    rng = np.random.default_rng(0)
    audio = rng.normal(2.0, 3.0, (17, 89)).astype(np.float32)
    video = rng.normal(0.0, 0.05, (6, 512)).astype(np.float32)
    emo, laugh = predictor.predict([audio, video])
    sa = load_normalization_stats("audio", run / "stats", strict=True)
    sv = load_normalization_stats("video", run / "stats", strict=True)
    x = {"audio": ((audio - sa.mean) / sa.std)[None], "audio_mask": np.ones((1, 17), np.float32),
         "video": ((video - sv.mean) / sv.std)[None], "video_mask": np.ones((1, 6), np.float32)}
    ref = model(x, training=False)
    np.testing.assert_allclose(emo, np.asarray(ref["emotion"])[0], atol=1e-4)
    np.testing.assert_allclose(laugh, np.asarray(ref["laughter"])[0], atol=1e-4)
    del mean_a, std_a


def test_export_cli_rewrites_a_bundle(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    run, bundle = tiny_run
    assert main(["export", str(run), "--out", str(tmp_path / "b2")]) == 0
    a = json.loads((bundle / "bundle.json").read_text())
    b = json.loads((tmp_path / "b2" / "bundle.json").read_text())
    assert set(a) == set(b) and a["training"]["command"] == b["training"]["command"]
    import onnxruntime as ort

    from avemotion.training.config import config_from_dict
    from avemotion.training.export import random_batches

    cfg = config_from_dict(json.loads((run / "config.resolved.json").read_text())["config"])
    x = random_batches(cfg, 1, seed=5)[0]
    s1 = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    s2 = ort.InferenceSession(str(tmp_path / "b2" / "model.onnx"), providers=["CPUExecutionProvider"])
    for r1, r2 in zip(s1.run(None, x), s2.run(None, x), strict=False):
        np.testing.assert_allclose(r1, r2, atol=1e-6)
    assert main(["export", str(tmp_path / "nope"), "--out", str(tmp_path / "b3")]) == 2


def test_leakage_fails_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from avemotion.training.synthetic import generate_synthetic_dataset

    ds = generate_synthetic_dataset(tmp_path / "d", 20, seed=2)
    lines = ds.emotion_manifest.read_text().splitlines()
    header, rows = lines[0], [r.split(",") for r in lines[1:]]
    g = rows[0][8]
    split = next(s for s in ("train", "val", "test") if s != rows[0][9])
    rows.append([rows[1][0] + "x", *rows[0][1:9], split])  # same group, another split
    ds.emotion_manifest.write_text("\n".join([header, *(",".join(r) for r in rows)]) + "\n")
    (ds.features_dir / f"{rows[1][0]}x.npz").write_bytes((ds.features_dir / f"{rows[1][0]}.npz").read_bytes())
    rc = main(["train", "--config", str(CONFIG), "--out", str(tmp_path / "run"), "--no-progress",
               "--set", f'data.features_dir="{ds.features_dir}"', "--set", f'data.emotion_manifest="{ds.emotion_manifest}"',
               "--set", f'data.laughter_manifest="{ds.laughter_manifest}"', *TINY])
    assert rc == 1
    assert f"synthetic_emotion:{g}" in capsys.readouterr().err
    assert not (tmp_path / "run" / "model.weights.h5").exists()


def test_bad_calibration_laughter_folder_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--calibration-laughter without recordings (missing, or no DIR/wav/*.wav): exit 2 naming the
    option, before any data is prepared; without --real it is refused too."""
    (tmp_path / "empty" / "wav").mkdir(parents=True)
    for folder in (tmp_path / "missing", tmp_path / "empty"):
        for cmd in (["train", "--config", str(ROOT / "training" / "real_emodb_laughter.toml"), "--real", str(tmp_path)],
                    ["evaluate", "--real", str(tmp_path)]):
            out = tmp_path / "out"
            assert main([*cmd, "--calibration-laughter", str(folder), "--out", str(out)]) == 2
            err = capsys.readouterr().err
            assert "--calibration-laughter" in err and str(folder) in err and "wav" in err
            assert not out.exists()
    assert main(["train", "--config", str(CONFIG), "--calibration-laughter", str(tmp_path / "empty")]) == 2
    assert "expected --real" in capsys.readouterr().err


def test_bad_config_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["train", "--config", str(tmp_path / "missing.toml")]) == 2
    assert main(["train", "--config", str(CONFIG), "--set", "training.epochs=-1"]) == 2


@pytest.mark.slow
def test_reproduction_command_regenerates_the_bundle_structure(tmp_path: Path) -> None:
    """The committed demo bundle's recorded command, run at tiny size, gives the same structure."""
    if not (DEMO / "bundle.json").is_file():
        pytest.skip(f"no committed demo bundle at {DEMO}")
    committed = json.loads((DEMO / "bundle.json").read_text())
    cmd = committed["training"]["command"]
    readme = (ROOT / "training" / "README.md").read_text()
    assert cmd in readme, "training/README.md must show the bundle's reproduction command"
    argv = shlex.split(cmd)
    assert argv[:2] == ["avemotion", "train"]
    args = argv[2:]
    # same command, tiny: fewer clips, tiny model, outputs under tmp_path
    args[args.index("--synthetic") + 1] = "40"
    args[args.index("--out") + 1] = str(tmp_path / "run")
    args[args.index("--bundle-out") + 1] = str(tmp_path / "bundle")
    args[args.index("--config") + 1] = str(ROOT / args[args.index("--config") + 1])
    assert main(["train", *args, "--no-progress", *TINY]) == 0
    fresh = json.loads((tmp_path / "bundle" / "bundle.json").read_text())
    assert sorted(p.name for p in (tmp_path / "bundle").iterdir()) == sorted(p.name for p in DEMO.iterdir())
    assert set(fresh) == set(committed)
    assert set(fresh["training"]) == set(committed["training"])
    assert set(fresh["files"]) == set(committed["files"])
    for key in ("labels", "inputs", "outputs", "dims", "window_s", "hop_s", "laughter_threshold"):
        assert fresh[key] == committed[key], key
    assert fresh["training"]["demonstration"] is True and fresh["training"]["dataset"] == "synthetic"


@pytest.mark.slow
def test_resume_continues_after_the_last_epoch(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    run, _ = tiny_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    before = json.loads((copy / "metrics.json").read_text())["history"]
    args = ["train", "--config", str(CONFIG), "--synthetic", "40", "--out", str(copy), "--no-progress",
            "--no-export", "--resume", *TINY]
    args[args.index("training.epochs=2")] = "training.epochs=3"
    assert main(args) == 0
    after = json.loads((copy / "metrics.json").read_text())["history"]
    assert len(after) == 3 and after[:2] == before
    assert json.loads((copy / "checkpoint" / "state.json").read_text())["epoch"] == 3


def test_library_reports_progress_through_a_callback_and_draws_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from avemotion.training.config import load_config
    from avemotion.training.loop import EpochProgress
    from avemotion.training.synthetic import generate_synthetic_dataset
    from avemotion.training.train import train

    ds = generate_synthetic_dataset(tmp_path / "d", 30, seed=5)
    cfg = load_config(CONFIG, [t for t in TINY if t != "--set"])
    cfg.data.features_dir, cfg.data.emotion_manifest = str(ds.features_dir), str(ds.emotion_manifest)
    cfg.data.laughter_manifest = str(ds.laughter_manifest)
    seen: list[EpochProgress] = []
    capsys.readouterr()
    result = train(cfg, tmp_path / "run", progress=seen.append, export=False)
    assert [p.epoch for p in seen] == [1, 2] and all(p.epochs == 2 and p.start_epoch == 0 for p in seen)
    assert seen[-1].record == result.history[-1] and "val loss" in seen[-1].message
    err = capsys.readouterr().err
    assert "epochs" not in err and "it/s" not in err  # no progress bar from the library
    # the CLI draws the bar from the same callback
    rc = main(["train", "--config", str(CONFIG), "--out", str(tmp_path / "run2"), "--no-export",
               "--set", f'data.features_dir="{ds.features_dir}"', "--set", f'data.emotion_manifest="{ds.emotion_manifest}"',
               "--set", f'data.laughter_manifest="{ds.laughter_manifest}"', *TINY])
    assert rc == 0
    assert "epochs: 100%" in capsys.readouterr().err
