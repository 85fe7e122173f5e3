"""One training run: data → leakage check → train-split statistics → :func:`loop.fit` → metrics and
plots → ONNX export → (optionally) a model bundle.

Run directory layout (``run_dir``)::

    config.resolved.json     {"config": every hyper-parameter, "provenance": ...}
    stats/{audio,video}_normalization_stats.pkl   training-split statistics
    model.weights.h5         best weights (lowest validation loss)
    checkpoint/last.weights.h5, checkpoint/state.json   end of the last finished epoch (resume)
    logs/train, logs/val     TensorBoard event files (loss terms per step / epoch, metrics per epoch)
    metrics.json             history, best epoch, per-split metrics, a summary
    plots/{val,test}_emotion_confusion.png, plots/{val,test}_laughter_pr.png
    model.onnx               exported and verified against Keras

Under ``--strategy multiworker`` every worker runs the same command; the chief alone writes the run
directory (statistics, configuration, logs, metrics, plots), the export and the bundle. Each other
worker writes only its weights and resume state under ``RUN_DIR/workers/<type><index>/``
(``model.weights.h5``, ``checkpoint/``), equal to the chief's.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from avemotion.training.batches import make_norm
from avemotion.training.checkpoint import write_json
from avemotion.training.config import EMOTION_LABELS, TrainConfig, config_to_dict
from avemotion.training.data import (
    Example,
    LoadReport,
    ModalityStats,
    check_group_leakage,
    class_weights_for,
    compute_train_stats,
    load_examples,
    save_train_stats,
    split_examples,
)
from avemotion.training.loop import FitResult, ProgressCallback, fit, predict_split, worker_role
from avemotion.training.metrics import plot_confusion, plot_pr_curve

log = logging.getLogger(__name__)

__all__ = ["Calibrator", "TrainResult", "train", "run_provenance", "final_metrics"]


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


def run_provenance(cfg: TrainConfig, strategy: str, examples: list[Example], report: LoadReport,
                   stats: dict[str, ModalityStats], extra: dict[str, Any] | None) -> dict[str, Any]:
    """The ``provenance`` record of ``config.resolved.json`` (and later of ``bundle.json``)."""
    import keras
    import tensorflow as tf

    counts = {s: len(v) for s, v in split_examples(examples).items()}
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "strategy": strategy,
        "seed": cfg.seed,
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__,
                     "keras": keras.__version__, "numpy": np.__version__},
        # which inputs carried data in training (the other is always masked; "embedder" is facenet's key)
        "modalities": [m for m in ("audio", "video") if stats[m].count > 0],
        "data": {"features_dir": cfg.data.features_dir, "emotion_manifest": cfg.data.emotion_manifest,
                 "laughter_manifest": cfg.data.laughter_manifest, "examples_per_split": counts,
                 "skipped_clips": len(report.skipped),
                 "emotion_labelled": sum(e.emotion >= 0 for e in examples),
                 "laughter_labelled": sum(e.laughter >= 0 for e in examples),
                 "normalization_stats": "computed on the train split only",
                 "stats_counts": {k: v.count for k, v in stats.items()}},
        **(extra or {}),
    }


def final_metrics(fitted: FitResult, cfg: TrainConfig, class_weights: np.ndarray | None,
                  plots: Path | None) -> dict[str, Any]:
    """Metrics of every split with the best weights, plots of the val/test splits, and a summary."""
    from avemotion.training.loop import evaluate_split

    split_metrics: dict[str, Any] = {}
    for s, ds in fitted.eval_ds.items():
        pred = predict_split(fitted.fwd, ds)
        split_metrics[s] = evaluate_split(pred, cfg, class_weights)
        if s == "train" or plots is None:
            continue
        plots.mkdir(parents=True, exist_ok=True)
        plot_confusion(split_metrics[s]["emotion"]["confusion"], list(EMOTION_LABELS),
                       plots / f"{s}_emotion_confusion.png", title=f"emotion confusion ({s})")
        l_rows = pred["laughter"] >= 0
        plot_pr_curve(pred["laughter"][l_rows], pred["laughter_probs"][l_rows], plots / f"{s}_laughter_pr.png",
                      cfg.training.laughter_threshold, title=f"laughter precision-recall ({s})")
    report_split = "test" if "test" in split_metrics else fitted.select_split
    rs = split_metrics[report_split]
    summary = {"split": report_split, "emotion_accuracy": rs["emotion"]["accuracy"], "emotion_uar": rs["emotion"]["uar"],
               "emotion_macro_f1": rs["emotion"]["macro_f1"], "laughter_roc_auc": rs["laughter"]["roc_auc"],
               "laughter_pr_auc": rs["laughter"]["pr_auc"], "laughter_f1_at_threshold": rs["laughter"]["f1"],
               "laughter_threshold": cfg.training.laughter_threshold, "best_epoch": fitted.best_epoch,
               "epochs_run": len(fitted.history), "stopped_early": fitted.stopped_early}
    return {"summary": summary, "history": fitted.history, "splits": split_metrics}


#: ``calibrate(fitted, cfg, stats) -> (laughter_threshold, record)``, run on the trained model
#: before the metrics and the export (e.g. :func:`avemotion.training.evaluate.threshold_calibrator`).
Calibrator = Callable[[FitResult, TrainConfig, dict[str, ModalityStats]], tuple[float, dict[str, Any]]]


def train(cfg: TrainConfig, run_dir: str | Path, *, strategy: str = "default",
          progress: ProgressCallback | None = None, export: bool = True, bundle_out: str | Path | None = None,
          resume: bool = False, provenance: dict[str, Any] | None = None,
          calibrate: Calibrator | None = None) -> TrainResult:
    """Train, evaluate and export one model; see the module docstring for what lands in ``run_dir``.

    ``progress`` is called after every finished epoch (:class:`avemotion.training.loop.EpochProgress`).
    ``calibrate`` sets ``training.laughter_threshold`` from the trained model (recorded in the
    provenance as ``laughter_threshold``) before the metrics are computed and the bundle is written.
    Raises :class:`avemotion.training.data.LeakageError` when a group spans two splits (with
    ``data.check_leakage``), FileNotFoundError/ValueError for bad inputs, and
    :class:`avemotion.training.export.ExportError` when the ONNX model does not match Keras.
    """
    import keras

    cfg.validate()
    run = Path(run_dir)
    chief = True
    if strategy == "multiworker":
        ttype, tindex, chief = worker_role()
        if not chief:  # only the chief writes the run; the others keep their checkpoints apart
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

    stats = compute_train_stats(examples, cfg)
    class_weights = class_weights_for(cfg, splits["train"])
    prov = run_provenance(cfg, strategy, examples, report, stats, provenance)
    if chief:
        save_train_stats(stats, run / "stats")
        write_json(run / "config.resolved.json", {"config": config_to_dict(cfg), "provenance": prov})

    norm = make_norm(cfg, stats, [*splits["train"], *splits["val"]])
    fitted = fit(cfg, splits, stats, run, strategy=strategy, class_weights=class_weights, resume=resume,
                 progress=progress, logs=chief, norm=norm)
    if not chief:  # a worker's weights (identical to the chief's) stay in its checkpoint folder
        return TrainResult(run, fitted.best_epoch, len(fitted.history), fitted.history,
                           {"summary": {"worker": run.name, "best_epoch": fitted.best_epoch}}, splits=counts)
    if calibrate is not None:
        threshold, record = calibrate(fitted, cfg, stats)
        cfg.training.laughter_threshold = float(threshold)
        prov["laughter_threshold"] = {"value": float(threshold), **record}
        log.info("laughter threshold calibrated: %.3f", threshold)
    metrics = final_metrics(fitted, cfg, class_weights, run / "plots")
    write_json(run / "metrics.json", metrics)
    result = TrainResult(run, fitted.best_epoch, len(fitted.history), fitted.history, metrics, splits=counts)

    if cfg.training.online_adaptation:
        prov["online_adaptation"] = {
            "prior_weight": cfg.training.online_adaptation_prior_weight,
            "note": "analyze/live adapt the audio statistics per stream (avemotion.adaptation; --no-adapt turns it off)"}
    prov["best_epoch"] = fitted.best_epoch
    prov["epochs_run"] = len(fitted.history)
    write_json(run / "config.resolved.json", {"config": config_to_dict(cfg), "provenance": prov})
    if export or bundle_out is not None:
        from avemotion.training.export import export_run

        result.export, result.bundle_dir = export_run(run, bundle_out if bundle_out is not None else run / "bundle")
    return result
