"""The evaluation's reports: pooled metrics, the model card's tables, the confusion plots (part of
:mod:`avemotion.training.evaluate`; import from there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from avemotion._contract import EMOTION_LABELS
from avemotion.training.metrics import emotion_metrics, to_jsonable


def _pooled(labels: list[int], preds: list[int]) -> dict[str, Any]:
    y, p = np.array(labels), np.array(preds)
    return to_jsonable(emotion_metrics(y, np.eye(len(EMOTION_LABELS))[p], len(EMOTION_LABELS)))


def markdown(summary: dict[str, Any]) -> str:
    """The two tables of the model card."""
    names = {"svm_global": "eGeMAPS + linear SVM, global standardization (peer)",
             "svm_speaker": "eGeMAPS + linear SVM, per-speaker standardization (peer, offline)",
             "model": "avemotion model, training statistics",
             "model_online": "avemotion model + online speaker adaptation",
             "model_speaker": "avemotion model, per-speaker statistics (offline oracle)"}
    lines = ["| system | LOSO UAR (mean of folds) | accuracy | pooled UAR | per-class recall (" +
             ", ".join(EMOTION_LABELS) + ") |", "|---|---|---|---|---|"]
    for key, label in names.items():
        s = summary["emotion"].get(key)
        if s is None:
            continue
        rec = ", ".join(f"{r:.2f}" if r is not None else "-" for r in s["pooled"]["per_class_recall"])
        lines.append(f"| {label} | {s['mean_uar']:.3f} | {s['mean_accuracy']:.3f} | {s['pooled']['uar']:.3f} | {rec} |")
    la = summary["laughter"]
    fa = la["false_alarms"]
    lines += ["", "| laughter (leave-one-laugh-file-out) | value |", "|---|---|",
              f"| held-out laughs with an event | {la['found']} of {la['files']} |",
              f"| false alarms on held-out speech, training statistics | {fa['model']['with_event']} of "
              f"{fa['model']['utterances']} utterances ({100 * (fa['model']['share'] or 0):.1f}%) |",
              f"| false alarms on held-out speech, online adaptation | {fa['model_online']['with_event']} of "
              f"{fa['model_online']['utterances']} utterances ({100 * (fa['model_online']['share'] or 0):.1f}%) |",
              f"| calibrated thresholds (per fold) | {', '.join(f'{t:.2f}' for t in la['thresholds'])} |",
              f"| calibration-only laughs (every fold's threshold, never trained or tested) | "
              f"{len(la.get('calibration_only', []))} |",
              "", f"Online adaptation prior weights chosen per fold (steps): "
              f"{', '.join(f'{w:g}' for w in summary.get('prior_weights', []))}"]
    return "\n".join(lines) + "\n"


def plot_confusions(summary: dict[str, Any], out_dir: Path) -> list[Path]:
    from avemotion.training.metrics import plot_confusion

    paths = []
    for key in ("model", "model_online", "svm_global", "svm_speaker"):
        s = summary["emotion"].get(key)
        if s is not None:
            paths.append(plot_confusion(s["pooled"]["confusion"], list(EMOTION_LABELS),
                                        out_dir / f"confusion_{key}.png",
                                        title=f"LOSO confusion, {key} (UAR {s['pooled']['uar']:.3f})"))
    return paths
