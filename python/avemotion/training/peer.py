"""The classic peer of the emotion head: utterance-level eGeMAPSv02 functionals + a linear SVM.

The GeMAPS recipe (Eyben et al. 2016): the 88 eGeMAPSv02 functionals of the whole utterance
(openSMILE, 16 kHz mono), standardized, and a linear support vector machine with balanced class
weights (scikit-learn ``LinearSVC``, squared hinge, one-vs-rest). Two standardizations:

- ``global``: one mean/std fit on the training speakers' utterances, applied to the test speaker;
- ``speaker``: every speaker (test speaker included) standardized with their own mean/std, which
  needs all of a speaker's data in advance (a live system cannot do that).

The SVM's ``C`` is chosen per fold by an inner leave-one-speaker-out over the training speakers only
(UAR), from ``C_GRID``; the held-out speaker never influences it.

Two halves, for the two processes of ``avemotion evaluate``: :func:`extract_functionals` (openSMILE;
``python -m avemotion.training.peer MANIFEST OUT.npz``, never in a TensorFlow process) and
:func:`svm_fold` (scikit-learn + numpy, any process); :func:`run_peers` runs both standardizations on
the folds of ``avemotion evaluate``.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from avemotion.training.corpora import RealData


class FoldLike(Protocol):
    """What :func:`run_peers` needs of a fold (an ``avemotion.training.evaluate.Fold``)."""

    name: str
    test_speaker: str

log = logging.getLogger(__name__)

C_GRID: tuple[float, ...] = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
STANDARDIZATIONS = ("global", "speaker")


def extract_functionals(manifest: str | Path, out: str | Path) -> Path:
    """eGeMAPSv02 functionals (88) of every clip of an emotion manifest (whole clip, 16 kHz mono),
    saved as ``out`` (npz: ``clip_id`` str (N,), ``X`` float32 (N, 88)), atomically. A rerun with the
    same clip ids keeps the file."""
    import soundfile as sf

    from avemotion._contract import SAMPLE_RATE
    from avemotion._io import atomic_write_bytes
    from avemotion.data.manifest import read_manifest
    from avemotion.features.audio import import_opensmile, to_mono_16k

    rows = read_manifest(manifest)
    ids = [r.clip_id for r in rows]
    out = Path(out)
    if out.is_file():
        with np.load(out, allow_pickle=False) as z:
            if list(z["clip_id"]) == ids:
                return out
    opensmile = import_opensmile()
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    feats = np.zeros((len(rows), 88), np.float32)
    for i, r in enumerate(rows):
        x, sr = sf.read(r.media_path, dtype="float32", always_2d=True)
        s0, s1 = int(round(r.start * sr)), int(round(r.end * sr))
        y = to_mono_16k(x[s0:s1].T, sr)
        feats[i] = smile.process_signal(y, SAMPLE_RATE).to_numpy()[0]
    buf = io.BytesIO()
    np.savez(buf, clip_id=np.array(ids), X=feats)
    atomic_write_bytes(out, buf.getvalue())
    log.info("peer: eGeMAPSv02 functionals of %d clips -> %s", len(rows), out)
    return out


def _standardize(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return (x - mean) / np.where(std > 1e-8, std, 1.0)


def standardized(X: np.ndarray, speakers: np.ndarray, train: np.ndarray, mode: str) -> np.ndarray:
    """``X`` standardized: ``global`` with the training rows' statistics, ``speaker`` per speaker."""
    if mode == "global":
        return _standardize(X, X[train].mean(0), X[train].std(0))
    if mode == "speaker":
        out = np.empty_like(X, dtype=np.float64)
        for s in np.unique(speakers):
            m = speakers == s
            out[m] = _standardize(X[m], X[m].mean(0), X[m].std(0))
        return out
    raise ValueError(f"standardization: expected one of {STANDARDIZATIONS}, got {mode!r}")


def _uar(y: np.ndarray, p: np.ndarray) -> float:
    classes = np.unique(y)
    return float(np.mean([np.mean(p[y == c] == c) for c in classes]))


def _fit(X: np.ndarray, y: np.ndarray, C: float) -> object:
    from sklearn.svm import LinearSVC

    return LinearSVC(C=C, class_weight="balanced", max_iter=20000).fit(X, y)


def svm_fold(X: np.ndarray, y: np.ndarray, speakers: np.ndarray, test_speaker: str, mode: str,
             c_grid: Sequence[float] = C_GRID) -> tuple[np.ndarray, float]:
    """Predictions for ``test_speaker``'s rows (trained on every other speaker) and the chosen C.

    ``C`` maximizes the mean UAR of an inner leave-one-speaker-out over the training speakers."""
    X = np.asarray(X, np.float64)
    test = speakers == test_speaker
    train = ~test
    if not test.any() or not train.any():
        raise ValueError(f"test_speaker {test_speaker!r}: expected rows of it and of other speakers")
    inner = [s for s in np.unique(speakers[train])]
    best_c, best = c_grid[0], -1.0
    for c in c_grid:
        scores = []
        for s in inner:
            tr = train & (speakers != s)
            va = speakers == s
            Z = standardized(X, speakers, tr, mode)
            scores.append(_uar(y[va], _fit(Z[tr], y[tr], c).predict(Z[va])))  # type: ignore[attr-defined]
        if float(np.mean(scores)) > best + 1e-12:
            best_c, best = c, float(np.mean(scores))
    Z = standardized(X, speakers, train, mode)
    model = _fit(Z[train], y[train], best_c)
    return np.asarray(model.predict(Z[test])), float(best_c)  # type: ignore[attr-defined]


def run_peers(functionals: Path, data: RealData, folds: Sequence[FoldLike]) -> dict[str, Any]:
    """The SVM on the folds of :func:`avemotion.training.evaluate.loso_folds`, global and per-speaker
    standardization: per fold its metrics, ``C``, predictions and labels. Only original utterances
    count (a derived copy in ``functionals`` is dropped: the classic recipe has no augmentation)."""
    from avemotion._contract import EMOTION_LABELS
    from avemotion.training.metrics import emotion_metrics, to_jsonable

    by_id = {c.clip_id: c for c in data.clips}
    with np.load(functionals, allow_pickle=False) as z:
        keep = [k for k, i in enumerate(z["clip_id"]) if not by_id[str(i)].source]
        ids, X = [str(z["clip_id"][k]) for k in keep], np.asarray(z["X"])[keep]
    y = np.array([EMOTION_LABELS.index(str(by_id[i].emotion)) for i in ids])
    spk = np.array([by_id[i].group for i in ids])
    out: dict[str, Any] = {}
    for mode in STANDARDIZATIONS:
        per_fold = {}
        for f in folds:
            p, c_used = svm_fold(X, y, spk, f.test_speaker, mode)
            yt = y[spk == f.test_speaker]
            m = to_jsonable(emotion_metrics(yt, np.eye(len(EMOTION_LABELS))[p], len(EMOTION_LABELS)))
            per_fold[f.name] = {**m, "C": c_used, "predictions": p.tolist(), "labels": yt.tolist()}
        out[f"svm_{mode}"] = per_fold
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m avemotion.training.peer",
                                 description="eGeMAPSv02 utterance functionals of an emotion manifest")
    ap.add_argument("manifest", type=Path)
    ap.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    extract_functionals(args.manifest, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
