"""Numpy metrics against hand-computed values (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avemotion.training import metrics as M


def test_emotion_metrics_by_hand() -> None:
    y = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    probs = np.eye(6)[pred] * 0.9 + 0.01
    m = M.emotion_metrics(y, probs)
    assert m.accuracy == pytest.approx(4 / 6)
    assert m.uar == pytest.approx((0.5 + 1.0 + 0.5) / 3)  # classes 3..5 absent from y_true
    f1 = [2 * 1 / (2 + 2), 2 * 2 / (2 + 3), 2 * 1 / (2 + 1)]
    assert m.macro_f1 == pytest.approx(np.mean(f1))
    assert m.confusion[0][:3] == [1, 1, 0] and m.confusion[2][:3] == [1, 0, 1]
    assert m.per_class_recall[3] is None


def test_emotion_metrics_empty_and_bad() -> None:
    assert M.emotion_metrics(np.zeros(0, int), np.zeros((0, 6))).accuracy is None
    with pytest.raises(ValueError, match="probs: expected shape"):
        M.emotion_metrics([0, 1], np.zeros((2, 5)))
    with pytest.raises(ValueError, match="NaN"):
        M.emotion_metrics([0], np.full((1, 6), np.nan))
    with pytest.raises(ValueError, match=r"y_true: expected labels in \[0, 6\)"):
        M.confusion_matrix([7], [0], 6)


def test_roc_auc_with_ties_matches_pair_counting() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.3
    s = np.round(rng.random(200), 1)  # many ties
    pos, neg = s[y], s[~y]
    ref = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))
    assert M.roc_auc(y, s) == pytest.approx(ref)
    assert M.roc_auc([1, 1], [0.2, 0.3]) is None


def test_average_precision_by_hand() -> None:
    y = [1, 0, 1, 0]
    s = [0.9, 0.8, 0.7, 0.1]
    # ranks: P(1)=1 at R=.5 ; P(3)=2/3 at R=1  -> AP = .5*1 + .5*2/3
    assert M.average_precision(y, s) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert M.average_precision([0, 0], [0.1, 0.2]) is None


def test_laughter_metrics_threshold() -> None:
    m = M.laughter_metrics([1, 0, 1, 0], [0.9, 0.6, 0.4, 0.1], threshold=0.5)
    assert (m.precision, m.recall) == (0.5, 0.5) and m.f1 == pytest.approx(0.5)
    assert m.accuracy == 0.5 and m.n_positive == 2


def test_plots_are_png(tmp_path: Path) -> None:
    p1 = M.plot_confusion(np.arange(36).reshape(6, 6), list("abcdef"), tmp_path / "cm.png")
    p2 = M.plot_pr_curve([1, 0, 1, 0], [0.9, 0.6, 0.4, 0.1], tmp_path / "pr.png")
    p3 = M.plot_pr_curve([0, 0], [0.9, 0.6], tmp_path / "pr0.png")
    for p in (p1, p2, p3):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
