"""The training loop: a traced two-head step under a ``tf.distribute`` strategy, epochs with early
stopping, checkpoints and TensorBoard scalars, and batch prediction for evaluation.

Strategies (``--strategy``): ``default`` (one device), ``mirrored`` (all local GPUs), ``multiworker``
(``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``; every worker runs the same command). Each
replica divides its per-head loss sums by the labelled counts all-reduced over replicas, so the
summed gradients equal those of the global per-head means (see ``losses.py``). Under several workers
the selection loss that drives early stopping is averaged over the workers before any decision, so
every worker stops at the same epoch and keeps the same best weights.

Progress is reported through a callback (:class:`EpochProgress` per finished epoch); the library never
draws a progress bar itself (``avemotion train`` does, with tqdm).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avemotion.training.batches import ClipCache, GlobalNorm, Normalization, make_dataset
from avemotion.training.checkpoint import Checkpointer, RunState
from avemotion.training.config import EMOTION_LABELS, TrainConfig
from avemotion.training.data import Example, ModalityStats
from avemotion.training.metrics import emotion_metrics, laughter_metrics, to_jsonable

log = logging.getLogger(__name__)

STRATEGIES = ("default", "mirrored", "multiworker")


# ----------------------------------------------------------------------------- distribution


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


def _num_workers(strategy: Any) -> int:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    spec = resolver.cluster_spec().as_dict()
    return max(1, sum(len(v) for k, v in spec.items() if k in ("chief", "worker")))


def agree_mean(strategy: Any, value: float) -> float:
    """The mean of ``value`` over every worker of ``strategy`` (``value`` itself on one worker)."""
    if _num_workers(strategy) <= 1:
        return float(value)
    import tensorflow as tf

    per_replica = strategy.run(lambda: tf.constant(float(value), tf.float32))
    return float(strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None))


# ----------------------------------------------------------------------------- steps


def _clip_by_norm(g: Any, clipnorm: float) -> Any:
    """Keras' ``clipnorm`` rule for one gradient tensor: scale it to L2 norm <= ``clipnorm``."""
    import tensorflow as tf

    l2sum = tf.reduce_sum(tf.square(g))
    l2norm = tf.where(l2sum > 0, tf.sqrt(tf.where(l2sum > 0, l2sum, tf.ones_like(l2sum))), l2sum)
    return g * clipnorm / tf.maximum(l2norm, clipnorm)


def build_train_step(model: Any, optimizer: Any, strategy: Any, element_spec: Any, *,
                     laughter_loss_weight: float = 0.3, class_weights: np.ndarray | None = None,
                     clipnorm: float = 0.0) -> Any:
    """A traced ``step((x, y)) -> (loss, emotion_term, laughter_term)`` doing one optimizer update
    under ``strategy`` (``model`` may output ensemble members, ``(B, K, ...)``: see
    ``model.build_models``); ``element_spec`` is the (distributed) dataset's element spec. Per replica the
    head sums are divided by the labelled counts all-reduced over replicas (see ``losses.py``).

    ``clipnorm`` (> 0) clips each gradient tensor to that L2 norm *after* the gradients are summed
    over the replicas. (Keras' optimizer ``clipnorm`` clips every replica's local gradient before
    its own all-reduce, so two workers would not train like one: found by the two-worker test.) The
    step sums the gradients itself, clips them and hands ``sum / replicas`` to ``apply_gradients``,
    whose all-reduce then restores the clipped sum on every replica. Create the optimizer without
    ``clipnorm``."""
    import tensorflow as tf

    from avemotion.training.losses import combine, loss_parts

    if getattr(optimizer, "clipnorm", None) or getattr(optimizer, "global_clipnorm", None):
        raise ValueError("optimizer: expected no clipnorm/global_clipnorm (pass clipnorm= to build_train_step)")
    cw = tf.constant(class_weights) if class_weights is not None else None
    w_laugh = float(laughter_loss_weight)
    sum_op = tf.distribute.ReduceOp.SUM
    n_rep = int(strategy.num_replicas_in_sync)

    def replica_step(x: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            emo, laugh, ye, yl = out["emotion"], out["laughter"], y["emotion"], y["laughter"]
            if len(emo.shape) == 3:  # ensemble members (B, K, ...): every member's own loss, averaged
                k = emo.shape[1]
                emo, laugh = tf.reshape(emo, [-1, emo.shape[-1]]), tf.reshape(laugh, [-1, 1])
                ye, yl = tf.repeat(ye, k), tf.repeat(yl, k)
            parts = loss_parts(emo, laugh, ye, yl, cw)
            ctx = tf.distribute.get_replica_context()
            g_counts = (ctx.all_reduce(sum_op, parts.emotion_count), ctx.all_reduce(sum_op, parts.laughter_count))
            total, e_term, l_term = combine(parts, w_laugh, g_counts)
        pairs = [(g, v) for g, v in zip(tape.gradient(total, model.trainable_variables),
                                         model.trainable_variables, strict=True) if g is not None]
        grads = [g for g, _ in pairs]
        if clipnorm > 0:
            if n_rep > 1:
                grads = ctx.all_reduce(sum_op, grads)
            grads = [_clip_by_norm(g, clipnorm) for g in grads]
            if n_rep > 1:
                grads = [g / n_rep for g in grads]
        optimizer.apply_gradients(zip(grads, [v for _, v in pairs], strict=True))
        return total, e_term, l_term

    @tf.function(input_signature=[element_spec], reduce_retracing=True)
    def train_step(batch: Any) -> Any:
        x, y = batch
        t, e, l_ = strategy.run(replica_step, args=(x, y))
        return (strategy.reduce(sum_op, t, axis=None), strategy.reduce(sum_op, e, axis=None),
                strategy.reduce(sum_op, l_, axis=None))

    return train_step


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


# ----------------------------------------------------------------------------- TensorBoard


def _tb_scalar(name: str, value: float, step: int) -> None:
    """A TensorBoard scalar event without the ``tensorboard`` package (same proto as its scalar API:
    plugin "scalars", a float32 scalar tensor), written to the default summary writer."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    meta = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    tf.summary.write(name, tf.constant(float(value), tf.float32), step=step, metadata=meta)


class _Board:
    """TensorBoard event files ``logs/train`` and ``logs/val`` of a run."""

    def __init__(self, run_dir: Path) -> None:
        import tensorflow as tf

        self.train = tf.summary.create_file_writer(str(run_dir / "logs" / "train"))
        self.val = tf.summary.create_file_writer(str(run_dir / "logs" / "val"))

    def step(self, loss: float, global_step: int) -> None:
        with self.train.as_default(step=global_step):
            _tb_scalar("step/loss", loss, global_step)

    def epoch(self, epoch: int, train_stats: Mapping[str, float], sel: Mapping[str, Any]) -> None:
        with self.train.as_default(step=epoch):
            for k, v in train_stats.items():
                _tb_scalar(f"epoch/{k}", v, epoch)
        with self.val.as_default(step=epoch):
            for k in ("loss", "emotion_loss", "laughter_loss"):
                _tb_scalar(f"epoch/{k}", sel[k], epoch)
            for k, v in (("emotion_uar", sel["emotion"]["uar"]), ("emotion_accuracy", sel["emotion"]["accuracy"]),
                         ("laughter_roc_auc", sel["laughter"]["roc_auc"]),
                         ("laughter_pr_auc", sel["laughter"]["pr_auc"])):
                if v is not None:
                    _tb_scalar(f"epoch/{k}", v, epoch)

    def close(self) -> None:
        self.train.flush()
        self.val.flush()


# ----------------------------------------------------------------------------- the loop


@dataclass
class EpochProgress:
    """What the progress callback receives after each finished epoch."""

    epoch: int            # 1-based, the epoch just finished
    epochs: int           # the configured number of epochs
    start_epoch: int      # epochs already done when this call of :func:`fit` started (resume)
    record: dict[str, Any]
    message: str          # "loss 0.51 | val loss 0.62 uar 0.41 laughter auc 0.93"


ProgressCallback = Callable[[EpochProgress], None]


@dataclass
class FitResult:
    """A trained model (best weights loaded) and how it got there."""

    model: Any
    fwd: Any                         # traced inference function (see :func:`inference_fn`)
    eval_ds: dict[str, Any]          # split -> batched evaluation dataset
    history: list[dict[str, Any]]
    best_epoch: int
    stopped_early: bool
    select_split: str                # the split whose loss chose the best epoch
    extra: dict[str, Any] = field(default_factory=dict)


def _fmt(v: float | None) -> str:
    return f"{v:.3f}" if v is not None else "nan"


def fit(cfg: TrainConfig, splits: Mapping[str, Sequence[Example]], stats: Mapping[str, ModalityStats],
        run_dir: str | Path, *, strategy: str | Any = "default", class_weights: np.ndarray | None = None,
        resume: bool = False, progress: ProgressCallback | None = None, logs: bool = True,
        norm: Normalization | None = None) -> FitResult:
    """Train ``build_model(cfg)`` on ``splits["train"]`` with early stopping on ``splits["val"]`` (the
    training split when there is no validation example); checkpoints and logs under ``run_dir``.

    ``stats`` normalize the inputs (training-split statistics), or ``norm`` per example (e.g.
    :class:`avemotion.training.batches.GroupNorm`). With ``resume`` the run continues after
    the last finished epoch saved in ``run_dir`` (weights and early-stopping state; the optimizer's
    moments restart). ``logs``: write TensorBoard event files (``run_dir/logs``). Returns the model
    with its best weights loaded.
    """
    import keras

    from avemotion.training.model import build_models

    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    train_ex = list(splits.get("train", ()))
    if not train_ex:
        raise ValueError(f"no training examples (split counts { {s: len(v) for s, v in splits.items()} })")
    select_split = "val" if splits.get("val") else "train"
    if select_split == "train":
        log.warning("no validation examples: early stopping watches the training split")

    strat = make_strategy(strategy) if isinstance(strategy, str) else strategy
    with strat.scope():
        model, train_model = build_models(cfg)
        optimizer = keras.optimizers.AdamW(learning_rate=cfg.training.learning_rate,
                                           weight_decay=cfg.training.weight_decay)
        optimizer.build(model.trainable_variables)
    log.info("model %s: %d parameters", model.name, model.count_params())

    norm = norm or GlobalNorm(stats)
    cache = ClipCache(cfg)

    def epoch_data(epoch: int) -> Any:  # each epoch's order depends only on (seed, epoch)
        ds = make_dataset(train_ex, norm, cfg, training=True, epoch=epoch, cache=cache)
        if cfg.training.max_steps_per_epoch:
            ds = ds.take(cfg.training.max_steps_per_epoch)
        return strat.experimental_distribute_dataset(ds)

    eval_ds = {s: make_dataset(v, norm, cfg, training=False, cache=cache) for s, v in splits.items() if v}
    fwd = inference_fn(model, eval_ds[select_split])
    train_step = build_train_step(train_model, optimizer, strat, epoch_data(0).element_spec,
                                  laughter_loss_weight=cfg.training.laughter_loss_weight, class_weights=class_weights,
                                  clipnorm=cfg.training.clipnorm)

    ckpt = Checkpointer(run)
    state = (ckpt.resume(model) if resume else None) or RunState()
    start_epoch = state.epoch
    board = _Board(run) if logs else None
    patience, min_delta = cfg.training.early_stopping_patience, cfg.training.early_stopping_min_delta
    stopped_early = bool(state.wait > patience and state.best_epoch)
    for epoch in range(start_epoch, cfg.training.epochs):
        if stopped_early:
            break
        t0 = time.perf_counter()
        sums, n_steps = np.zeros(3), 0
        for batch in epoch_data(epoch):
            vals = np.array([float(v) for v in train_step(batch)])
            if not np.isfinite(vals).all():
                raise FloatingPointError(f"non-finite training loss at epoch {epoch + 1} step {n_steps + 1}: {vals}")
            sums += vals
            n_steps += 1
            state.global_step += 1
            if board is not None:
                board.step(vals[0], state.global_step)
        train_stats = dict(zip(("loss", "emotion_loss", "laughter_loss"), (sums / max(n_steps, 1)).tolist(),
                               strict=True))
        sel = evaluate_split(predict_split(fwd, eval_ds[select_split]), cfg, class_weights)
        sel_loss = agree_mean(strat, sel["loss"])
        rec = {"epoch": epoch + 1, **{f"train_{k}": v for k, v in train_stats.items()},
               "val_loss": sel_loss, "val_emotion_loss": sel["emotion_loss"],
               "val_laughter_loss": sel["laughter_loss"],
               "val_emotion_uar": sel["emotion"]["uar"], "val_laughter_roc_auc": sel["laughter"]["roc_auc"],
               "seconds": time.perf_counter() - t0, "steps": n_steps}
        state.history.append(rec)
        if board is not None:
            board.epoch(epoch + 1, train_stats, sel)
        if sel_loss < state.best_loss - min_delta:
            state.best_loss, state.best_epoch, state.wait = sel_loss, epoch + 1, 0
            ckpt.save_best(model)
        else:
            state.wait += 1
        state.epoch = epoch + 1
        ckpt.save_last(model, state)
        msg = (f"loss {train_stats['loss']:.4f} | {select_split} loss {sel_loss:.4f} "
               f"uar {_fmt(sel['emotion']['uar'])} laughter auc {_fmt(sel['laughter']['roc_auc'])}")
        log.info("epoch %d: %s", epoch + 1, msg)
        if progress is not None:
            progress(EpochProgress(epoch + 1, cfg.training.epochs, start_epoch, rec, msg))
        if state.wait > patience:
            stopped_early = True
            log.info("early stopping: no improvement of %s loss for %d epochs", select_split, state.wait)
    if board is not None:
        board.close()
    ckpt.load_best(model)
    return FitResult(model, fwd, eval_ds, state.history, state.best_epoch, stopped_early, select_split)
