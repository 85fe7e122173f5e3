"""Configuration loading (no TensorFlow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avemotion.training.config import TrainConfig, config_to_dict, load_config

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "training" / "dynamic_padding_no_leakage.toml"


def test_shipped_config_sets_every_field() -> None:
    import tomllib

    raw = tomllib.loads(SHIPPED.read_text())
    cfg = load_config(SHIPPED)
    resolved = config_to_dict(cfg)
    for section, values in resolved.items():
        if isinstance(values, dict):
            missing = set(values) - set(raw[section]) - {"max_steps_per_epoch"}
            assert not missing, f"[{section}] lacks {missing} in the shipped config"
    assert cfg.training.laughter_loss_weight == 0.3
    json.dumps(resolved)


def test_overrides_parse_toml_values() -> None:
    cfg = load_config(SHIPPED, ["training.epochs=3", "data.cache=false", "data.bucket_boundaries=[5, 9]",
                                'data.features_dir="/x y"', "model.dropout=0"])
    assert cfg.training.epochs == 3 and cfg.data.cache is False
    assert cfg.data.bucket_boundaries == [5, 9] and cfg.data.features_dir == "/x y"
    assert cfg.model.dropout == 0.0 and isinstance(cfg.model.dropout, float)
    cfg = load_config(SHIPPED, ["data.speed_factors=[0.9, 2]"])  # a float list takes ints as floats
    assert cfg.data.speed_factors == [0.9, 2.0] and all(isinstance(f, float) for f in cfg.data.speed_factors)
    with pytest.raises(ValueError, match="data.speed_factors: expected factors in"):
        load_config(SHIPPED, ["data.speed_factors=[1.0]"])
    with pytest.raises(ValueError, match="data.laughter_speed_factors: expected list"):
        load_config(SHIPPED, ['data.laughter_speed_factors=["fast"]'])


@pytest.mark.parametrize(("override", "needle"), [
    ("training.epochz=3", "unknown key training.epochz"),
    ("training.epochs=0", "training.epochs: expected > 0, got 0"),
    ("training.epochs=1.5", "training.epochs: expected int"),
    ("model.num_heads=3", "a multiple of model.num_heads=3"),
    ("data.bucket_boundaries=[9, 5]", "strictly increasing"),
    ("nosuch.x=1", "unknown key 'nosuch'"),
])
def test_bad_values_name_the_key(override: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle.replace("[", r"\[").replace(".", r"\.")):
        load_config(SHIPPED, [override])


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.toml"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[training\nepochs = 1")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_config(bad)


def test_defaults_validate() -> None:
    TrainConfig().validate()


def test_worker_role_from_tf_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from avemotion.training.loop import worker_role

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert worker_role() == ("chief", 0, True)
    cluster = {"worker": ["a:1", "b:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    assert worker_role() == ("worker", 1, False)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    assert worker_role()[2] is True
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        worker_role()


def test_import_avemotion_training_modules_stays_light() -> None:
    import subprocess
    import sys

    code = ("import sys, avemotion, avemotion.training.config, avemotion.training.train, avemotion.training.loop, avemotion.training.checkpoint, avemotion.training.data, "
            "avemotion.training.export, avemotion.cli.train, avemotion.cli.export; "
            "bad = [m for m in ('tensorflow', 'torch', 'keras') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
