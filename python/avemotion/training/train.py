"""The training run: data → leakage check → train-split statistics → custom training loop → metrics →
ONNX export → (optionally) a model bundle.

Run directory layout (``run_dir``)::

    config.resolved.json     {"config": every hyper-parameter, "provenance": ..., "data": split counts}
    stats/{audio,video}_normalization_stats.pkl   training-split statistics
    model.weights.h5         best weights (lowest validation loss)
    checkpoint/last.weights.h5, checkpoint/state.json   end of the last finished epoch (resume)
    logs/train, logs/val     TensorBoard event files (loss terms per step / epoch, metrics per epoch)
    metrics.json             history, best epoch, per-split metrics, a summary
    plots/{val,test}_emotion_confusion.png, plots/{val,test}_laughter_pr.png
    model.onnx               exported and verified against Keras

The loop is a plain ``tf.function`` step under a ``tf.distribute`` strategy (``default``: one device;
``mirrored``: all local GPUs; ``multiworker``: ``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``; every worker runs the same command,
the chief writes the run directory, bundle and export, the other workers write only under
``RUN_DIR/workers/<type><index>/``). Each
replica divides its per-head loss sums by the labelled counts all-reduced over replicas, so the summed
gradients equal those of the global per-head means (see ``losses.py``). Early stopping watches the
validation loss (the training loss when there is no validation split). A rerun with ``resume=True``
continues after the last finished epoch (weights and early-stopping state; the optimizer's moments
restart).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from avemotion._io import atomic_write_text
from avemotion.training.config import EMOTION_LABELS, TrainConfig, config_to_dict
from avemotion.training.data import (
    check_group_leakage,
    compute_train_stats,
    load_class_weights,
    load_examples,
    make_dataset,
    save_train_stats,
    split_examples,
)
from avemotion.training.metrics import (
    emotion_metrics,
    laughter_metrics,
    plot_confusion,
    plot_pr_curve,
    to_jsonable,
)

log = logging.getLogger(__name__)

STRATEGIES = ("default", "mirrored", "multiworker")


@dataclass
class TrainResult:
    run_dir: Path
    best_epoch: int
    epochs_run: int
    history: list[dict[str, float]]
    metrics: dict[str, Any]
    export: Any = None
    bundle_dir: Path | None = None
    splits: dict[str, int] = field(default_factory=dict)


def _atomic_json(path: Path, obj: Any) -> None:
    text = json.dumps(obj, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    atomic_write_text(path, text + "\n")


def _tb_scalar(name: str, value: float, step: int) -> None:
    """A TensorBoard scalar event without the ``tensorboard`` package (same proto as its scalar API:
    plugin "scalars", a float32 scalar tensor), written to the default summary writer."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    meta = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    tf.summary.write(name, tf.constant(float(value), tf.float32), step=step, metadata=meta)


def worker_role() -> tuple[str, int, bool]:
    """``(task_type, task_index, is_chief)`` from ``TF_CONFIG`` (no TF_CONFIG: a single chief)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return "chief", 0, True
    try:
        conf = json.loads(raw)
        task = conf.get("task", {})
        ttype, tindex = str(task.get("type", "worker")), int(task.get("index", 0))
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValueError(f"TF_CONFIG: expected JSON with cluster and task, got {raw[:200]!r}: {exc}") from exc
    chief = ttype == "chief" or (ttype == "worker" and tindex == 0 and "chief" not in conf.get("cluster", {}))
    return ttype, tindex, chief


def make_strategy(name: str) -> Any:
    """The ``tf.distribute`` strategy for ``--strategy``: default, mirrored or multiworker."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            log.warning("--strategy multiworker without TF_CONFIG: running as a single worker")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy: expected one of {list(STRATEGIES)}, got {name!r}")


def _save_weights_atomic(model: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp.{path.name}")
    model.save_weights(str(tmp))
    os.replace(tmp, path)


def inference_fn(model: Any, ds: Any) -> Any:
    """One traced ``model(x, training=False)`` for every batch shape of ``ds``'s element spec."""
    import tensorflow as tf

    @tf.function(input_signature=[ds.element_spec[0]])
    def fwd(x: Any) -> Any:
        return model(x, training=False)

    return fwd


def predict_split(fwd: Any, ds: Any) -> dict[str, np.ndarray]:
    """Run ``fwd`` (see :func:`inference_fn`) over a batched dataset; returns stacked probabilities and
    labels."""
    em, la, ye, yl = [], [], [], []
    for x, y in ds:
        out = fwd(x)
        em.append(out["emotion"].numpy())
        la.append(out["laughter"].numpy().reshape(-1))
        ye.append(y["emotion"].numpy())
        yl.append(y["laughter"].numpy())
    return {"emotion_probs": np.concatenate(em), "laughter_probs": np.concatenate(la),
            "emotion": np.concatenate(ye), "laughter": np.concatenate(yl)}


def _loss_numpy(pred: dict[str, np.ndarray], w_laugh: float, class_weights: np.ndarray | None) -> dict[str, float]:
    from avemotion.training.losses import two_head_loss

    total, e, l_ = two_head_loss(pred["emotion_probs"], pred["laughter_probs"], pred["emotion"], pred["laughter"],
                                 laughter_loss_weight=w_laugh, class_weights=class_weights)
    return {"loss": float(total), "emotion_loss": float(e), "laughter_loss": float(l_)}


def evaluate_split(pred: dict[str, np.ndarray], cfg: TrainConfig, class_weights: np.ndarray | None) -> dict[str, Any]:
    """Loss terms and both heads' metrics for one split's predictions (labelled rows of each head)."""
    e_rows = pred["emotion"] >= 0
    l_rows = pred["laughter"] >= 0
    em = emotion_metrics(pred["emotion"][e_rows], pred["emotion_probs"][e_rows], len(EMOTION_LABELS))
    lm = laughter_metrics(pred["laughter"][l_rows], pred["laughter_probs"][l_rows],
                          cfg.training.laughter_threshold)
    return {**_loss_numpy(pred, cfg.training.laughter_loss_weight, class_weights),
            "emotion": to_jsonable(em), "laughter": to_jsonable(lm)}


def build_train_step(model: Any, optimizer: Any, strategy: Any, element_spec: Any, *,
                     laughter_loss_weight: float = 0.3, class_weights: np.ndarray | None = None) -> Any:
    """A traced ``step((x, y)) -> (loss, emotion_term, laughter_term)`` doing one optimizer update
    under ``strategy``; ``element_spec`` is the (distributed) dataset's element spec. Per replica the
    head sums are divided by the labelled counts all-reduced over replicas (see ``losses.py``)."""
    import tensorflow as tf

    from avemotion.training.losses import combine, loss_parts

    cw = tf.constant(class_weights) if class_weights is not None else None
    w_laugh = float(laughter_loss_weight)
    sum_op = tf.distribute.ReduceOp.SUM

    def replica_step(x: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            parts = loss_parts(out["emotion"], out["laughter"], y["emotion"], y["laughter"], cw)
            ctx = tf.distribute.get_replica_context()
            g_counts = (ctx.all_reduce(sum_op, parts.emotion_count), ctx.all_reduce(sum_op, parts.laughter_count))
            total, e_term, l_term = combine(parts, w_laugh, g_counts)
        grads = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=False))
        return total, e_term, l_term

    @tf.function(input_signature=[element_spec], reduce_retracing=True)
    def train_step(batch: Any) -> Any:
        x, y = batch
        t, e, l_ = strategy.run(replica_step, args=(x, y))
        return (strategy.reduce(sum_op, t, axis=None), strategy.reduce(sum_op, e, axis=None),
                strategy.reduce(sum_op, l_, axis=None))

    return train_step


def train(cfg: TrainConfig, run_dir: str | Path, *, strategy: str = "default", progress: bool = True,
          export: bool = True, bundle_out: str | Path | None = None, resume: bool = False,
          provenance: dict[str, Any] | None = None) -> TrainResult:
    """Train, evaluate and export one model; see the module docstring for what lands in ``run_dir``.

    Raises :class:`avemotion.training.data.LeakageError` when a group spans two splits (with
    ``data.check_leakage``), FileNotFoundError/ValueError for bad inputs, and
    :class:`avemotion.training.export.ExportError` when the ONNX model does not match Keras.
    """
    import keras
    import tensorflow as tf

    from avemotion.training.model import build_model

    cfg.validate()
    run = Path(run_dir)
    if strategy == "multiworker":
        ttype, tindex, chief = worker_role()
        if not chief:  # only the chief writes the run; the others keep their files apart, no export
            run = run / "workers" / f"{ttype}{tindex}"
            export, bundle_out = False, None
    run.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(cfg.seed)

    examples, report = load_examples(cfg)
    if cfg.data.check_leakage:
        check_group_leakage(examples)
    splits = split_examples(examples)
    counts = {s: len(v) for s, v in splits.items()}
    log.info("examples per split: %s (%d manifest rows, %d skipped)", counts, report.n_rows, len(report.skipped))
    if not splits["train"]:
        raise ValueError(f"no training examples (split counts {counts})")
    select_split = "val" if splits["val"] else "train"
    if select_split == "train":
        log.warning("no validation examples: early stopping watches the training split")

    stats = compute_train_stats(examples, cfg)
    save_train_stats(stats, run / "stats")
    class_weights = load_class_weights(cfg.data.balance_report) if cfg.data.balance_report else None

    prov = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "strategy": strategy,
        "seed": cfg.seed,
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__,
                     "keras": keras.__version__, "numpy": np.__version__},
        "data": {"features_dir": cfg.data.features_dir, "emotion_manifest": cfg.data.emotion_manifest,
                 "laughter_manifest": cfg.data.laughter_manifest, "examples_per_split": counts,
                 "skipped_clips": len(report.skipped),
                 "emotion_labelled": sum(e.emotion >= 0 for e in examples),
                 "laughter_labelled": sum(e.laughter >= 0 for e in examples),
                 "normalization_stats": "computed on the train split only",
                 "stats_counts": {k: v.count for k, v in stats.items()}},
        **(provenance or {}),
    }
    _atomic_json(run / "config.resolved.json", {"config": config_to_dict(cfg), "provenance": prov})

    strat = make_strategy(strategy)
    with strat.scope():
        model = build_model(cfg)
        optimizer = keras.optimizers.AdamW(learning_rate=cfg.training.learning_rate,
                                           weight_decay=cfg.training.weight_decay,
                                           clipnorm=cfg.training.clipnorm or None)
        optimizer.build(model.trainable_variables)
    log.info("model %s: %d parameters", model.name, model.count_params())

    train_ds = make_dataset(splits["train"], stats, cfg, training=True)
    if cfg.training.max_steps_per_epoch:
        train_ds = train_ds.take(cfg.training.max_steps_per_epoch)
    eval_ds = {s: make_dataset(v, stats, cfg, training=False) for s, v in splits.items() if v}
    dist_ds = strat.experimental_distribute_dataset(train_ds)
    fwd = inference_fn(model, next(iter(eval_ds.values())))

    train_step = build_train_step(model, optimizer, strat, dist_ds.element_spec,
                                  laughter_loss_weight=cfg.training.laughter_loss_weight, class_weights=class_weights)

    tb_train = tf.summary.create_file_writer(str(run / "logs" / "train"))
    tb_val = tf.summary.create_file_writer(str(run / "logs" / "val"))
    best_path = run / "model.weights.h5"
    ckpt_dir = run / "checkpoint"
    history: list[dict[str, float]] = []
    best_loss, best_epoch, wait, start_epoch, global_step = float("inf"), 0, 0, 0, 0
    state_path = ckpt_dir / "state.json"
    if resume and state_path.is_file() and (ckpt_dir / "last.weights.h5").is_file():
        state = json.loads(state_path.read_text(encoding="utf-8"))
        model.load_weights(str(ckpt_dir / "last.weights.h5"))
        history, best_loss, best_epoch = state["history"], state["best_loss"], state["best_epoch"]
        wait, start_epoch, global_step = state["wait"], state["epoch"], state["global_step"]
        log.info("resuming after epoch %d (best epoch %d)", start_epoch, best_epoch)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.training.epochs, initial=start_epoch, desc="epochs", unit="epoch",
                   file=sys.stderr, leave=True)
    stopped_early = False
    for epoch in range(start_epoch, cfg.training.epochs):
        if wait > cfg.training.early_stopping_patience and best_epoch:
            stopped_early = True
            break
        t0 = time.perf_counter()
        sums = np.zeros(3)
        n_steps = 0
        for batch in dist_ds:
            t, e, l_ = train_step(batch)
            vals = np.array([float(t), float(e), float(l_)])
            if not np.isfinite(vals).all():
                raise FloatingPointError(f"non-finite training loss at epoch {epoch + 1} step {n_steps + 1}: {vals}")
            sums += vals
            n_steps += 1
            global_step += 1
            with tb_train.as_default(step=global_step):
                _tb_scalar("step/loss", vals[0], global_step)
        train_stats = dict(zip(("loss", "emotion_loss", "laughter_loss"), (sums / max(n_steps, 1)).tolist(), strict=False))
        sel = evaluate_split(predict_split(fwd, eval_ds[select_split]), cfg, class_weights)
        rec = {"epoch": epoch + 1, **{f"train_{k}": v for k, v in train_stats.items()},
               "val_loss": sel["loss"], "val_emotion_loss": sel["emotion_loss"],
               "val_laughter_loss": sel["laughter_loss"],
               "val_emotion_uar": sel["emotion"]["uar"], "val_laughter_roc_auc": sel["laughter"]["roc_auc"],
               "seconds": time.perf_counter() - t0, "steps": n_steps}
        history.append(rec)
        with tb_train.as_default(step=epoch + 1):
            for k, v in train_stats.items():
                _tb_scalar(f"epoch/{k}", v, epoch + 1)
        with tb_val.as_default(step=epoch + 1):
            for k in ("loss", "emotion_loss", "laughter_loss"):
                _tb_scalar(f"epoch/{k}", sel[k], epoch + 1)
            for k, v in (("emotion_uar", sel["emotion"]["uar"]), ("emotion_accuracy", sel["emotion"]["accuracy"]),
                         ("laughter_roc_auc", sel["laughter"]["roc_auc"]), ("laughter_pr_auc", sel["laughter"]["pr_auc"])):
                if v is not None:
                    _tb_scalar(f"epoch/{k}", v, epoch + 1)
        if sel["loss"] < best_loss - cfg.training.early_stopping_min_delta:
            best_loss, best_epoch, wait = sel["loss"], epoch + 1, 0
            _save_weights_atomic(model, best_path)
        else:
            wait += 1
        _save_weights_atomic(model, ckpt_dir / "last.weights.h5")
        _atomic_json(state_path, {"epoch": epoch + 1, "history": history, "best_loss": best_loss,
                                  "best_epoch": best_epoch, "wait": wait, "global_step": global_step})
        msg = (f"epoch {epoch + 1}: loss {train_stats['loss']:.4f} | {select_split} loss {sel['loss']:.4f} "
               f"uar {sel['emotion']['uar'] if sel['emotion']['uar'] is not None else float('nan'):.3f} "
               f"laughter auc {sel['laughter']['roc_auc'] if sel['laughter']['roc_auc'] is not None else float('nan'):.3f}")
        log.info(msg)
        if bar is not None:
            bar.set_postfix_str(msg.split(": ", 1)[1])
            bar.update(1)
        if wait > cfg.training.early_stopping_patience:
            stopped_early = True
            log.info("early stopping: no improvement of %s loss for %d epochs", select_split, wait)
            break
    if bar is not None:
        bar.close()
    tb_train.flush()
    tb_val.flush()

    model.load_weights(str(best_path))
    plots = run / "plots"
    plots.mkdir(exist_ok=True)
    split_metrics: dict[str, Any] = {}
    for s, ds in eval_ds.items():
        pred = predict_split(fwd, ds)
        split_metrics[s] = evaluate_split(pred, cfg, class_weights)
        if s == "train":
            continue
        plot_confusion(split_metrics[s]["emotion"]["confusion"], list(EMOTION_LABELS),
                       plots / f"{s}_emotion_confusion.png", title=f"emotion confusion ({s})")
        l_rows = pred["laughter"] >= 0
        plot_pr_curve(pred["laughter"][l_rows], pred["laughter_probs"][l_rows], plots / f"{s}_laughter_pr.png",
                      cfg.training.laughter_threshold, title=f"laughter precision-recall ({s})")
    report_split = "test" if "test" in split_metrics else select_split
    rs = split_metrics[report_split]
    summary = {"split": report_split, "emotion_accuracy": rs["emotion"]["accuracy"], "emotion_uar": rs["emotion"]["uar"],
               "emotion_macro_f1": rs["emotion"]["macro_f1"], "laughter_roc_auc": rs["laughter"]["roc_auc"],
               "laughter_pr_auc": rs["laughter"]["pr_auc"], "laughter_f1_at_threshold": rs["laughter"]["f1"],
               "laughter_threshold": cfg.training.laughter_threshold, "best_epoch": best_epoch,
               "epochs_run": len(history), "stopped_early": stopped_early}
    metrics = {"summary": summary, "history": history, "splits": split_metrics}
    _atomic_json(run / "metrics.json", metrics)
    result = TrainResult(run, best_epoch, len(history), history, metrics, splits=counts)

    prov["best_epoch"] = best_epoch
    prov["epochs_run"] = len(history)
    _atomic_json(run / "config.resolved.json", {"config": config_to_dict(cfg), "provenance": prov})
    if export or bundle_out is not None:
        from avemotion.training.export import export_run

        result.export, result.bundle_dir = export_run(run, bundle_out if bundle_out is not None else run / "bundle")
    return result
