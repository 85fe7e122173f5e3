"""CI proof of the real-data path on a few ../shared files (skipped when the folder is absent):
manifests → `avemotion extract` in a subprocess → a tiny two-head model with a calibrated laughter
threshold → a bundle that records its modalities → load_model/predict; and one leave-one-speaker-out
fold of `avemotion evaluate`. The full training runs on a development machine, not here."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import avemotion  # the package under test (site-packages in CI): its subprocesses import the same

if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("tf2onnx") is None:
    pytest.skip("needs tensorflow and tf2onnx (the [train] extra)", allow_module_level=True)

from avemotion.training import corpora  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "training" / "real_emodb_laughter.toml"
TINY = ["training.epochs=2", "training.batch_size=8", "model.d_model=8", "model.ff_dim=8", "model.fusion_dim=8",
        "export.verify_batches=2", "training.early_stopping_patience=5"]


@pytest.fixture(scope="module")
def tiny(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("real_tiny")
    full = corpora.collect(shared_data, base / "work")
    speakers = full.speakers[:3]
    emo = [c for s in speakers for c in [c for c in full.clips if c.corpus == "emodb" and c.group == s][:4]]
    laughs = sorted((c for c in full.clips if c.corpus == "laughter"), key=lambda c: c.end - c.start)[:3]
    noise = [c for c in full.clips if c.corpus == "noise"][:3]
    # one calibration-only laugh (--calibration-laughter): a fourth shared laugh in a folder of its own
    fourth = sorted((c for c in full.clips if c.corpus == "laughter"), key=lambda c: c.end - c.start)[3]
    (base / "cal" / "wav").mkdir(parents=True)
    (base / "cal" / "wav" / Path(fourth.media_path).name).symlink_to(fourth.media_path)
    cal = corpora.read_laughter_folder(base / "cal", corpus=corpora.CALIBRATION_LAUGHTER)
    data = corpora.RealData([*emo, *laughs, *noise, *cal])
    val = [f"emodb:{speakers[1]}", corpora.group_key(laughs[0]), corpora.group_key(noise[0])]
    splits = corpora.assign_splits(data.clips, val)
    emo_m, laugh_m = corpora.write_manifests(data, splits, base / "manifests")
    _, every = corpora.write_manifests(data, splits, base / "manifests", prefix="extract", calibration=True)
    feats = base / "features"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(avemotion.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "avemotion", "extract", str(every), "-o", str(feats),
                        "--modalities", "audio", "--no-progress"], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return {"data": data, "val": val, "emo": emo_m, "laugh": laugh_m, "feats": feats, "base": base}


def test_tiny_real_model_bundle(tiny: dict[str, object]) -> None:
    import avemotion
    from avemotion.training.config import load_config
    from avemotion.training.evaluate import threshold_calibrator
    from avemotion.training.train import train

    base = Path(str(tiny["base"]))
    cfg = load_config(CONFIG, TINY)
    cfg.data.features_dir, cfg.data.emotion_manifest = str(tiny["feats"]), str(tiny["emo"])
    cfg.data.laughter_manifest = str(tiny["laugh"])
    keys = [*tiny["val"], *tiny["data"].calibration_keys]  # type: ignore[attr-defined, misc]
    calib = threshold_calibrator(tiny["data"], Path(str(tiny["feats"])), keys)  # type: ignore[arg-type]
    result = train(cfg, base / "run", bundle_out=base / "bundle", provenance={"dataset": "real (CI subset)"},
                   calibrate=calib)
    meta = json.loads((base / "bundle" / "bundle.json").read_text())
    assert meta["training"]["modalities"] == ["audio"]
    rec = meta["training"]["laughter_threshold"]
    assert meta["laughter_threshold"] == pytest.approx(rec["value"]) and 0.05 <= rec["value"] <= 0.95
    assert rec["laughter_items"] == 2 and rec["other_items"] >= 2  # the validation laugh + the calibration one
    assert result.splits["train"] > 0 and result.splits["val"] > 0
    predictor = avemotion.load_model(base / "bundle")
    from avemotion.training.data import read_clip

    clip = read_clip(Path(str(tiny["feats"])) / f"{tiny['data'].clips[0].clip_id}.npz", 89, 512)  # type: ignore[attr-defined]
    emo, laugh = predictor.predict([clip.audio, None])
    assert np.isfinite(emo).all() and np.asarray(emo).shape[-1] == 6 and np.isfinite(laugh).all()


def test_one_evaluation_fold(tiny: dict[str, object]) -> None:
    from avemotion.training.config import load_config
    from avemotion.training.evaluate import EvalOptions, loso_folds, run_fold

    data = tiny["data"]
    fold = loso_folds(data)[0]  # type: ignore[arg-type]
    res = run_fold(fold, data, Path(str(tiny["feats"])), load_config(CONFIG, TINY),  # type: ignore[arg-type]
                   Path(str(tiny["base"])) / "loso" / fold.name, EvalOptions(prior_weights=(30.0, 300.0), orders=2))
    assert set(res.emotion) == {"model", "model_speaker", "model_online"}
    assert len(res.labels) == len(res.predictions["model_online"]) >= 1
    assert res.false_alarms["model"]["utterances"] == 4 and res.prior_weight in (30.0, 300.0)
    assert all("found" in x for x in res.laughs)
    n_val_laughs = sum(g.startswith("laughter:") for g in fold.val)
    assert fold.calib == data.calibration_keys and len(res.validation_peaks["laughter"]) == n_val_laughs + 1  # type: ignore[attr-defined]
    assert not [x for x in res.laughs if x["file"] in {k.split(":", 1)[1] for k in fold.calib}]
    again = run_fold(fold, data, Path(str(tiny["feats"])), load_config(CONFIG, TINY),  # type: ignore[arg-type]
                     Path(str(tiny["base"])) / "loso" / fold.name, EvalOptions())
    assert again == res  # a rerun reads the cached fold
