"""Evaluation metrics in plain numpy, and their plots (matplotlib, Agg backend).

Emotion (multi-class, labels 0..K-1): accuracy, unweighted average recall (UAR: mean of per-class
recall over the classes present in ``y_true``), macro-F1 (mean F1 over classes present in ``y_true``
or ``y_pred``; a class with no true and no predicted sample is skipped), confusion matrix (rows = true,
columns = predicted).

Laughter (binary): ROC-AUC (Mann-Whitney U with midranks for ties; None when only one class is
present), PR-AUC as average precision (sum over thresholds of ΔRecall · Precision, the step-wise
area), precision/recall/F1 at a threshold (``score >= threshold`` is positive), and the precision-
recall curve. Non-finite scores raise ValueError. No TensorFlow import.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def _check(name: str, a: Any, ndim: int = 1) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim}-d array, got shape {arr.shape}")
    return arr


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts, rows = true class, columns = predicted class."""
    t = _check("y_true", y_true).astype(np.int64)
    p = _check("y_pred", y_pred).astype(np.int64)
    if t.shape != p.shape:
        raise ValueError(f"y_pred: expected shape {t.shape} (as y_true), got {p.shape}")
    for name, arr in (("y_true", t), ("y_pred", p)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise ValueError(f"{name}: expected labels in [0, {num_classes}), got range "
                             f"[{arr.min()}, {arr.max()}]")
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


@dataclass
class EmotionMetrics:
    n: int
    accuracy: float | None
    uar: float | None
    macro_f1: float | None
    per_class_recall: list[float | None]
    confusion: list[list[int]]


def emotion_metrics(y_true: Any, probs: Any, num_classes: int = 6) -> EmotionMetrics:
    """Metrics from labels (N,) and probabilities (N, K); empty input gives None metrics."""
    pr = _check("probs", probs, 2)
    t = _check("y_true", y_true).astype(np.int64)
    if pr.shape != (len(t), num_classes):
        raise ValueError(f"probs: expected shape ({len(t)}, {num_classes}), got {pr.shape}")
    if not np.isfinite(pr).all():
        raise ValueError("probs: contains NaN/Inf")
    pred = pr.argmax(axis=1) if len(t) else np.zeros(0, np.int64)
    cm = confusion_matrix(t, pred, num_classes)
    if len(t) == 0:
        return EmotionMetrics(0, None, None, None, [None] * num_classes, cm.tolist())
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    tp = np.diag(cm).astype(np.float64)
    recall = [float(tp[k] / support[k]) if support[k] else None for k in range(num_classes)]
    present = [r for r in recall if r is not None]
    f1s = []
    for k in range(num_classes):
        if support[k] == 0 and predicted[k] == 0:
            continue
        denom = support[k] + predicted[k]
        f1s.append(float(2 * tp[k] / denom))
    return EmotionMetrics(int(len(t)), float(tp.sum() / len(t)), float(np.mean(present)),
                          float(np.mean(f1s)) if f1s else None, recall, cm.tolist())


def roc_auc(y_true: Any, scores: Any) -> float | None:
    """Area under the ROC curve (ties count 1/2); None when y_true has a single class."""
    y = _check("y_true", y_true).astype(bool)
    s = _check("scores", scores).astype(np.float64)
    if y.shape != s.shape:
        raise ValueError(f"scores: expected shape {y.shape}, got {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("scores: contains NaN/Inf")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), np.float64)
    sorted_s = s[order]
    # midranks for ties
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def precision_recall_curve(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) over the distinct scores, thresholds descending; a sample is
    positive when ``score >= threshold``. Requires at least one positive."""
    y = _check("y_true", y_true).astype(bool)
    s = _check("scores", scores).astype(np.float64)
    if y.shape != s.shape:
        raise ValueError(f"scores: expected shape {y.shape}, got {s.shape}")
    if not y.any():
        raise ValueError("y_true: precision-recall needs at least one positive sample")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    distinct = np.r_[np.nonzero(np.diff(s_sorted))[0], len(s) - 1]
    tp = np.cumsum(y_sorted)[distinct]
    fp = (distinct + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / y.sum()
    return precision, recall, s_sorted[distinct]


def average_precision(y_true: Any, scores: Any) -> float | None:
    """PR-AUC as average precision; None when there is no positive sample."""
    y = _check("y_true", y_true).astype(bool)
    if not y.any():
        return None
    precision, recall, _ = precision_recall_curve(y, scores)
    prev = np.r_[0.0, recall[:-1]]
    return float(np.sum((recall - prev) * precision))


@dataclass
class LaughterMetrics:
    n: int
    n_positive: int
    roc_auc: float | None
    pr_auc: float | None
    threshold: float
    precision: float | None
    recall: float | None
    f1: float | None
    accuracy: float | None


def laughter_metrics(y_true: Any, scores: Any, threshold: float = 0.5) -> LaughterMetrics:
    """Binary metrics for labels (N,) in {0,1} and scores (N,) (or (N,1)) in [0,1]."""
    y = _check("y_true", y_true).astype(np.float64)
    s = np.asarray(scores, np.float64).reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"scores: expected {y.shape[0]} values, got {s.shape[0]}")
    if not np.isfinite(s).all():
        raise ValueError("scores: contains NaN/Inf")
    yb = y > 0.5
    if len(y) == 0:
        return LaughterMetrics(0, 0, None, None, threshold, None, None, None, None)
    pred = s >= threshold
    tp = int((pred & yb).sum())
    fp = int((pred & ~yb).sum())
    fn = int((~pred & yb).sum())
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else None
    return LaughterMetrics(int(len(y)), int(yb.sum()), roc_auc(yb, s), average_precision(yb, s), threshold,
                           precision, recall, f1, float((pred == yb).mean()))


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    """Render ``fig`` as PNG and write it atomically (``avemotion._io``); closes the figure."""
    import io

    from avemotion._io import atomic_write_bytes

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=100)
    finally:
        _plt().close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def plot_confusion(cm: Any, labels: list[str] | tuple[str, ...], path: str | Path, title: str = "") -> Path:
    """Save a confusion-matrix PNG (row-normalized colours, counts written in the cells)."""
    plt = _plt()
    cm = np.asarray(cm)
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros(cm.shape, np.float64), where=rows > 0)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if frac[i, j] > 0.5 else "black", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title or "emotion confusion matrix")
    fig.tight_layout()
    return _save(fig, path)


def plot_pr_curve(y_true: Any, scores: Any, path: str | Path, threshold: float = 0.5, title: str = "") -> Path:
    """Save the laughter precision-recall curve PNG, marking the operating point at ``threshold``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4))
    y = np.asarray(y_true).reshape(-1) > 0.5
    s = np.asarray(scores, np.float64).reshape(-1)
    if y.any():
        precision, recall, _ = precision_recall_curve(y, s)
        ax.step(np.r_[0.0, recall], np.r_[precision[0], precision], where="post", label="PR curve")
        m = laughter_metrics(y.astype(float), s, threshold)
        if m.precision is not None and m.recall is not None:
            ax.plot([m.recall], [m.precision], "o", label=f"threshold {threshold:g}")
        ax.axhline(y.mean(), ls="--", color="grey", lw=0.8, label="chance")
        ax.legend(loc="lower left")
    else:
        ax.text(0.5, 0.5, "no positive samples", ha="center")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title or "laughter precision-recall")
    fig.tight_layout()
    return _save(fig, path)


def to_jsonable(obj: Any) -> Any:
    """Dataclasses → dicts, recursively."""
    if hasattr(obj, "__dataclass_fields__"):
        return asdict(obj)
    return obj
