"""Multi-worker training for real: two ``avemotion train --strategy multiworker`` processes joined by
``TF_CONFIG`` on 127.0.0.1, against a single-worker run of the same command.

Checks: both workers finish; the chief alone writes the run outputs and the bundle (the other
worker only its weights and resume state under ``workers/worker1``); both end with the same weights;
the loss curve equals the single-worker one within float tolerance (the per-replica loss is divided
by the labelled counts summed over the workers, so two workers sharing each global batch compute
the single worker's gradient; this test found that Keras' optimizer ``clipnorm`` clipped each
worker's local gradient before the sum, which ``loop.build_train_step`` now does after it). Every
process is bounded by a timeout and stopped at the end, also
when an assertion fails.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import avemotion  # the package under test (site-packages in CI): its subprocesses import the same

if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("tf2onnx") is None:
    pytest.skip("needs tensorflow and tf2onnx (the [train] extra)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "training" / "dynamic_padding_no_leakage.toml"
TIMEOUT_S = 420
SETTINGS = ["training.epochs=2", "training.batch_size=8", "training.max_steps_per_epoch=4",
            "model.d_model=8", "model.ff_dim=8", "model.fusion_dim=8", "model.dropout=0.0",
            "export.verify_batches=2"]


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _command(ds, out: Path, strategy: str, bundle: Path | None) -> list[str]:  # type: ignore[no-untyped-def]
    cmd = [sys.executable, "-m", "avemotion", "train", "--config", str(CONFIG), "--out", str(out),
           "--strategy", strategy, "--no-progress",
           "--set", f'data.features_dir="{ds.features_dir}"',
           "--set", f'data.emotion_manifest="{ds.emotion_manifest}"',
           "--set", f'data.laughter_manifest="{ds.laughter_manifest}"']
    for s in SETTINGS:
        cmd += ["--set", s]
    if bundle is not None:
        cmd += ["--bundle-out", str(bundle)]
    else:
        cmd += ["--no-export"]
    return cmd


def _env(tf_config: dict | None) -> dict[str, str]:  # type: ignore[type-arg]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(avemotion.__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["CUDA_VISIBLE_DEVICES"] = ""
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


def _weights(path: Path) -> dict[str, np.ndarray]:
    import h5py

    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, np.asarray(obj)) if isinstance(obj, h5py.Dataset) else None)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from avemotion.training.synthetic import generate_synthetic_dataset

    base = tmp_path_factory.mktemp("multiworker")
    ds = generate_synthetic_dataset(base / "data", 60, seed=7)
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    mw, single, bundle = base / "mw", base / "single", base / "bundle"
    procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    try:
        for i in range(2):
            log = base / f"worker{i}.log"
            with log.open("wb") as fh:
                p = subprocess.Popen(_command(ds, mw, "multiworker", bundle if i == 0 else None),
                                     env=_env({"cluster": cluster, "task": {"type": "worker", "index": i}}),
                                     stdout=fh, stderr=subprocess.STDOUT, cwd=base)
            procs.append((f"worker{i}", p, log))
        for name, p, log in procs:
            try:
                rc = p.wait(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name} did not finish in {TIMEOUT_S} s; log tail:\n{log.read_text()[-3000:]}")
            assert rc == 0, f"{name} exited {rc}; log tail:\n{log.read_text()[-3000:]}"
    finally:
        for _, p, _ in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
    r = subprocess.run(_command(ds, single, "default", None), env=_env(None), cwd=base, capture_output=True,
                       timeout=TIMEOUT_S)
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    return {"mw": mw, "single": single, "bundle": bundle}


@pytest.mark.slow
def test_chief_alone_writes_the_run_and_the_bundle(runs: dict[str, Path]) -> None:
    mw = runs["mw"]
    for rel in ("metrics.json", "config.resolved.json", "model.onnx", "model.weights.h5",
                "stats/audio_normalization_stats.pkl", "plots/val_emotion_confusion.png"):
        assert (mw / rel).is_file(), rel
    assert (runs["bundle"] / "bundle.json").is_file()
    meta = json.loads((runs["bundle"] / "bundle.json").read_text())
    assert meta["training"]["strategy"] == "multiworker"
    worker = mw / "workers" / "worker1"
    written = sorted(str(p.relative_to(worker)) for p in worker.rglob("*") if p.is_file())
    assert written == ["checkpoint/last.weights.h5", "checkpoint/state.json", "model.weights.h5"], written
    assert sorted(p.name for p in (mw / "workers").iterdir()) == ["worker1"]


@pytest.mark.slow
def test_both_workers_end_with_the_same_weights(runs: dict[str, Path]) -> None:
    chief = _weights(runs["mw"] / "model.weights.h5")
    other = _weights(runs["mw"] / "workers" / "worker1" / "model.weights.h5")
    assert chief.keys() == other.keys() and len(chief) > 4
    for k in chief:
        np.testing.assert_allclose(other[k], chief[k], rtol=0, atol=1e-6, err_msg=k)
    state = json.loads((runs["mw"] / "workers" / "worker1" / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 2


@pytest.mark.slow
def test_loss_curve_matches_a_single_worker_run(runs: dict[str, Path]) -> None:
    mw = json.loads((runs["mw"] / "metrics.json").read_text())["history"]
    one = json.loads((runs["single"] / "metrics.json").read_text())["history"]
    assert len(mw) == len(one) == 2
    for a, b in zip(mw, one, strict=True):
        assert a["steps"] == b["steps"]
        for k in ("train_loss", "train_emotion_loss", "train_laughter_loss", "val_loss"):
            assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-6), (a["epoch"], k, a[k], b[k])
    # training moved the weights: the curve is not flat
    assert mw[0]["train_loss"] != pytest.approx(mw[1]["train_loss"], rel=1e-6)
