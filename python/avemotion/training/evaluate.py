"""Speaker-independent evaluation (TensorFlow part of ``avemotion evaluate``).

Leave-one-speaker-out over EmoDB's speakers. Fold k holds out speaker k for testing, together with
laughter files (every file is held out by exactly one fold: the files are dealt round-robin over
the folds, so with 12 files and 8 speakers four folds hold out two); a validation speaker (the next
one), two validation laughter files and three noise clips select the epoch, calibrate the laughter
threshold and choose the adaptation's prior weight; the rest trains. Calibration-only laughter
recordings (``--calibration-laughter``, :data:`corpora.CALIBRATION_LAUGHTER`) join the validation items
of every fold's threshold calibration and nothing else. Normalization statistics come from the fold's training
examples only. Per fold:

- **emotion** on the test speaker's utterances (whole 2 s clips), three ways: the model with its
  fold's training statistics (``model``), the same model with the test speaker's own statistics
  (``model_speaker``: an oracle, like the per-speaker peer), and with online adaptation
  (``model_online``: :class:`avemotion.adaptation.OnlineNormalizer` started from the training
  statistics, fed the speaker's utterances in a seeded random order, each utterance's speech steps
  added before it is predicted, averaged over ``orders`` orders; the prior weight is the one of
  ``prior_weights`` with the best online UAR on the validation speaker);
- **laughter**: analysis windows (``window_s``/``hop_s``, as ``analyze`` cuts them) over each held-out
  laughter file, hysteresis events at the calibrated threshold (``avemotion analyze``'s rule):
  found when at least one event; false alarms: the share of the test speaker's utterances with an
  event (with the training statistics and with online adaptation);
- **threshold** calibration on the validation items (:func:`calibrate_threshold`).

The peer (:mod:`avemotion.training.peer`) runs on the same folds in :func:`~avemotion.training.peer.run_peers`
(re-exported here).
Features, folds and peers are cached under the output directory: a rerun resumes after the last
finished fold.

Layout: the windows/events/threshold helpers live in ``_evaluate_windows``, the reports (tables,
plots) in ``_evaluate_report``; both are re-exported here.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avemotion._contract import EMOTION_LABELS
from avemotion.training import corpora
from avemotion.training._evaluate_report import _pooled, markdown, plot_confusions
from avemotion.training._evaluate_windows import (
    analysis_windows,
    calibrate_threshold,
    detect_events,
)
from avemotion.training.checkpoint import read_json, write_json
from avemotion.training.config import TrainConfig
from avemotion.training.data import ClipArrays, read_clip
from avemotion.training.metrics import emotion_metrics, to_jsonable
from avemotion.training.peer import run_peers

log = logging.getLogger(__name__)

MODES = ("model", "model_speaker", "model_online")


@dataclass
class Fold:
    name: str
    test_speaker: str
    test: list[str]   # group keys (corpus:group)
    val: list[str]
    calib: list[str] = field(default_factory=list)  # calibration-only groups (threshold only)


def loso_folds(data: corpora.RealData, seed: int = 0) -> list[Fold]:
    """One fold per speaker (see the module docstring)."""
    speakers, laughs = data.speakers, data.laugh_files
    noise = sorted(corpora.group_key(c) for c in data.clips if c.corpus == "noise")
    folds = []
    for k, spk in enumerate(speakers):
        test_l = [f"laughter:{laughs[j]}" for j in range(k, len(laughs), len(speakers))]
        others = [f"laughter:{f}" for f in laughs if f"laughter:{f}" not in test_l]
        val_l = corpora.pick(others, 2, seed + k, "val-laugh")
        val_n = [noise[(3 * k + i) % len(noise)] for i in range(3)] if noise else []
        val_s = f"emodb:{speakers[(k + 1) % len(speakers)]}"
        folds.append(Fold(f"fold{k}_{spk}", spk, [f"emodb:{spk}", *test_l], [val_s, *val_l, *val_n],
                          data.calibration_keys))
    return folds


# ----------------------------------------------------------------------------- prediction


Predict = Callable[[list[np.ndarray]], tuple[np.ndarray, np.ndarray]]


def keras_predictor(fwd: Any, batch: int = 64) -> Predict:
    """Normalized audio sequences (T_i, 89) → (emotion probs (N, 6), laughter probs (N,)); the video
    input is one masked step (the model was trained without video)."""
    from avemotion._contract import AUDIO_DIM, VIDEO_DIM

    def predict(seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        em, la = [], []
        for i in range(0, len(seqs), batch):
            part = seqs[i:i + batch]
            t = max(1, max(len(s) for s in part))
            a = np.zeros((len(part), t, AUDIO_DIM), np.float32)
            am = np.zeros((len(part), t), np.float32)
            for j, s in enumerate(part):
                a[j, :len(s)] = s
                am[j, :len(s)] = 1.0
            x = {"audio": a, "audio_mask": am, "video": np.zeros((len(part), 1, VIDEO_DIM), np.float32),
                 "video_mask": np.zeros((len(part), 1), np.float32)}
            out = fwd(x)
            em.append(np.asarray(out["emotion"]))
            la.append(np.asarray(out["laughter"]).reshape(-1))
        if not em:
            return np.zeros((0, len(EMOTION_LABELS)), np.float32), np.zeros(0, np.float32)
        return np.concatenate(em), np.concatenate(la)

    return predict


def _norm(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    from avemotion.kernels import normalize

    return normalize(x, mean, std) if len(x) else x.astype(np.float32)


@dataclass
class Utterance:
    clip_id: str
    label: int            # emotion class, -1 none
    clip: ClipArrays


def online_sequences(utts: Sequence[Utterance], prior: tuple[np.ndarray, np.ndarray], prior_weight: float,
                     seed: int) -> tuple[list[int], list[np.ndarray], list[tuple[np.ndarray, np.ndarray]]]:
    """A seeded order of one speaker's utterances and each one normalized by an OnlineNormalizer that
    has seen the speech steps of the utterances before it and of itself (causal); returns (order,
    sequences, the (mean, std) used for each)."""
    from avemotion.adaptation import OnlineNormalizer

    on = OnlineNormalizer(prior[0], prior[1], prior_weight=prior_weight)
    order = list(np.random.default_rng(seed).permutation(len(utts)))
    seqs, used = [], []
    for i in order:
        a = utts[i].clip.audio
        on.update(a)
        seqs.append(on.normalize(a) if len(a) else a)
        used.append(on.stats())
    return [int(i) for i in order], seqs, used


# ----------------------------------------------------------------------------- one fold


@dataclass
class EvalOptions:
    prior_weights: tuple[float, ...] = (30.0, 100.0, 300.0, 1000.0)
    orders: int = 5
    min_event_s: float = 0.5
    seed: int = 0


@dataclass
class FoldResult:
    name: str
    test_speaker: str
    threshold: float
    prior_weight: float = 0.0
    emotion: dict[str, Any] = field(default_factory=dict)      # mode -> metrics
    predictions: dict[str, list[int]] = field(default_factory=dict)  # mode -> predicted class per utterance
    labels: list[int] = field(default_factory=list)
    laughs: list[dict[str, Any]] = field(default_factory=list)  # held-out laugh files
    false_alarms: dict[str, Any] = field(default_factory=dict)  # mode -> {utterances, with_event, share}
    best_epoch: int = 0
    epochs_run: int = 0
    #: peak laughter window scores: validation items ({"laughter": [...], "other": [...]}, what the
    #: threshold was calibrated on) and the test speaker's utterances per mode (false alarms at any
    #: threshold: peak >= threshold)
    validation_peaks: dict[str, list[float]] = field(default_factory=dict)
    utterance_peaks: dict[str, list[float]] = field(default_factory=dict)


def _events_of(pred: Predict, clip: ClipArrays, mean: np.ndarray, std: np.ndarray, cfg: TrainConfig,
               threshold: float, min_event_s: float) -> tuple[list[Any], np.ndarray]:
    wins = analysis_windows(clip.audio_times, cfg.features.window_s, cfg.features.hop_s)
    x = _norm(clip.audio, mean, std)
    _, lp = pred([x[idx] for _, _, idx in wins])
    ev = detect_events([w[0] for w in wins], [w[1] for w in wins], lp.tolist(), threshold, min_event_s)
    return ev, lp


def run_fold(fold: Fold, data: corpora.RealData, features_dir: Path, cfg: TrainConfig, out_dir: Path,
             opts: EvalOptions) -> FoldResult:
    """Train the fold's model and evaluate it (see the module docstring); result cached as
    ``out_dir/result.json`` (returned as is on a rerun)."""
    done = out_dir / "result.json"
    if done.is_file():
        return FoldResult(**read_json(done))
    import keras

    from avemotion.training.batches import make_norm
    from avemotion.training.data import (
        check_group_leakage,
        class_weights_for,
        compute_train_stats,
        load_examples,
        split_examples,
    )
    from avemotion.training.loop import fit

    splits_of = corpora.assign_splits(data.clips, fold.val, fold.test)
    emo_m, laugh_m = corpora.write_manifests(data, splits_of, out_dir / "manifests", prefix=fold.name)
    c = copy.deepcopy(cfg)
    c.data.features_dir, c.data.emotion_manifest, c.data.laughter_manifest = str(features_dir), str(emo_m), str(laugh_m)
    keras.utils.set_random_seed(c.seed)
    examples, _ = load_examples(c)
    check_group_leakage(examples)
    splits = split_examples(examples)
    stats = compute_train_stats(examples, c)
    norm = make_norm(c, stats, [*splits["train"], *splits["val"]])
    fitted = fit(c, {"train": splits["train"], "val": splits["val"]}, stats, out_dir,
                 class_weights=class_weights_for(c, splits["train"]), norm=norm, logs=False)
    pred = keras_predictor(fitted.fwd)
    g_mean, g_std = stats["audio"].mean, stats["audio"].std

    def clips_of(groups: Sequence[str]) -> list[tuple[corpora.Clip, ClipArrays]]:
        keys = set(groups)
        return [(cl, read_clip(features_dir / f"{cl.clip_id}.npz", c.features.audio_dim, c.features.video_dim))
                for cl in data.clips if corpora.group_key(cl) in keys and not cl.source]

    # threshold from the validation (and calibration-only) items' peak window scores (laughs
    # positive; speech and noise negative)
    val_pos, val_neg = validation_peaks(pred, clips_of([*fold.val, *fold.calib]), g_mean, g_std, c)
    threshold = calibrate_threshold(val_pos, val_neg)

    def utterances(items: Sequence[tuple[corpora.Clip, ClipArrays]]) -> list[Utterance]:
        return [Utterance(cl.clip_id, EMOTION_LABELS.index(cl.emotion) if cl.emotion else -1, arr)
                for cl, arr in items if cl.corpus == "emodb"]

    # the adaptation's prior weight: best online UAR on the validation speaker (one order)
    val_utts = [u for u in utterances(clips_of(fold.val)) if u.label >= 0]
    prior_weight, best_uar = opts.prior_weights[0], -1.0
    for pw in opts.prior_weights:
        order, seqs, _ = online_sequences(val_utts, (g_mean, g_std), pw, opts.seed)
        em, _ = pred(seqs)
        uar = emotion_metrics(np.array([val_utts[i].label for i in order]), em, len(EMOTION_LABELS)).uar
        if uar is not None and uar > best_uar + 1e-12:
            prior_weight, best_uar = pw, uar

    test = clips_of(fold.test)
    utts = utterances(test)
    labelled = [i for i, u in enumerate(utts) if u.label >= 0]
    res = FoldResult(fold.name, fold.test_speaker, threshold, prior_weight, best_epoch=fitted.best_epoch,
                     epochs_run=len(fitted.history), validation_peaks={"laughter": val_pos, "other": val_neg})
    res.labels = [utts[i].label for i in labelled]
    y = np.array(res.labels)
    from avemotion.kernels import RunningStats
    from avemotion.training.data import audio_stats_mask

    spk = RunningStats(c.features.audio_dim)
    for u in utts:
        spk.update(u.clip.audio, mask=audio_stats_mask(u.clip.audio, c))
    modes: dict[str, np.ndarray] = {}
    for mode, (m, s) in (("model", (g_mean, g_std)), ("model_speaker", (spk.mean, spk.std))):
        em, _ = pred([_norm(utts[i].clip.audio, m, s) for i in labelled])
        modes[mode] = em
    # online: utterance order matters; average the probabilities over several orders
    acc = np.zeros((len(utts), len(EMOTION_LABELS)))
    fa_online = []
    for o in range(opts.orders):
        order, seqs, used = online_sequences(utts, (g_mean, g_std), prior_weight, opts.seed + 1000 * o + 1)
        em, _ = pred(seqs)
        acc[order] += em
        if o == 0:  # false alarms with the statistics each utterance was seen with
            peaks = [0.0] * len(utts)
            for pos_i, i in enumerate(order):
                ev, lp = _events_of(pred, utts[i].clip, *used[pos_i], c, threshold, opts.min_event_s)
                fa_online.append(bool(ev))
                peaks[i] = float(lp.max()) if len(lp) else 0.0
            res.utterance_peaks["model_online"] = peaks
    modes["model_online"] = (acc / opts.orders)[labelled]
    for mode, em in modes.items():
        res.emotion[mode] = to_jsonable(emotion_metrics(y, em, len(EMOTION_LABELS)))
        res.predictions[mode] = em.argmax(1).astype(int).tolist()
    fa, res.utterance_peaks["model"] = [], []
    for u in utts:
        ev, lp = _events_of(pred, u.clip, g_mean, g_std, c, threshold, opts.min_event_s)
        fa.append(bool(ev))
        res.utterance_peaks["model"].append(float(lp.max()) if len(lp) else 0.0)
    res.false_alarms = {
        "model": {"utterances": len(fa), "with_event": int(sum(fa)), "share": float(np.mean(fa)) if fa else None},
        "model_online": {"utterances": len(fa_online), "with_event": int(sum(fa_online)),
                         "share": float(np.mean(fa_online)) if fa_online else None}}
    for cl, arr in test:
        if cl.corpus != "laughter":
            continue
        ev, lp = _events_of(pred, arr, g_mean, g_std, c, threshold, opts.min_event_s)
        res.laughs.append({"file": cl.group, "seconds": cl.end - cl.start, "windows": int(len(lp)),
                           "found": bool(ev), "events": len(ev), "max_prob": float(lp.max()) if len(lp) else None,
                           "event_s": float(sum(e.duration for e in ev))})
    write_json(done, asdict(res))
    log.info("%s: UAR model %.3f, online %.3f, speaker %.3f; laughs found %d/%d; false alarms %.1f%%",
             fold.name, res.emotion["model"]["uar"], res.emotion["model_online"]["uar"],
             res.emotion["model_speaker"]["uar"], sum(x["found"] for x in res.laughs), len(res.laughs),
             100 * (res.false_alarms["model"]["share"] or 0))
    return res


def validation_peaks(pred: Predict, items: Sequence[tuple[corpora.Clip, ClipArrays]], mean: np.ndarray,
                     std: np.ndarray, cfg: TrainConfig) -> tuple[list[float], list[float]]:
    """Peak laughter probability over the analysis windows of each item: (laughter items, others)."""
    pos: list[float] = []
    neg: list[float] = []
    for cl, arr in items:
        wins = analysis_windows(arr.audio_times, cfg.features.window_s, cfg.features.hop_s)
        _, lp = pred([_norm(arr.audio, mean, std)[idx] for _, _, idx in wins])
        (pos if cl.laughter else neg).append(float(lp.max()) if len(lp) else 0.0)
    return pos, neg


def threshold_calibrator(data: corpora.RealData, features_dir: Path, validation: Sequence[str]) -> Any:
    """A ``calibrate`` hook for :func:`avemotion.training.train.train`: the threshold of
    :func:`calibrate_threshold` from the validation groups' items, as ``evaluate`` folds do."""
    keys = set(validation)

    def calibrate(fitted: Any, cfg: TrainConfig, stats: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        items = [(cl, read_clip(features_dir / f"{cl.clip_id}.npz", cfg.features.audio_dim, cfg.features.video_dim))
                 for cl in data.clips if corpora.group_key(cl) in keys and cl.laughter is not None and not cl.source]
        pos, neg = validation_peaks(keras_predictor(fitted.fwd), items, stats["audio"].mean, stats["audio"].std, cfg)
        t = calibrate_threshold(pos, neg)
        return t, {"method": "avemotion.training.evaluate.calibrate_threshold (peak window score per validation "
                             "item, max TPR - FPR, a quarter of the best interval up from the negatives in logit space)",
                   "validation_groups": sorted(keys), "laughter_items": len(pos), "other_items": len(neg),
                   "laughter_detected": int(sum(p >= t for p in pos)), "others_with_event": int(sum(n >= t for n in neg))}

    return calibrate


# ----------------------------------------------------------------------------- summary


def summarize(folds: Sequence[FoldResult], peers: dict[str, Any]) -> dict[str, Any]:
    """Per-fold mean UAR/accuracy, pooled metrics (per-class recall, confusion) per system, and the
    laughter table."""
    systems: dict[str, dict[str, Any]] = {}
    for name, per_fold in peers.items():
        labels = [y for f in folds for y in per_fold[f.name]["labels"]]
        preds = [p for f in folds for p in per_fold[f.name]["predictions"]]
        systems[name] = {"fold_uar": [per_fold[f.name]["uar"] for f in folds],
                         "fold_accuracy": [per_fold[f.name]["accuracy"] for f in folds],
                         "pooled": _pooled(labels, preds)}
    for mode in MODES:
        labels = [y for f in folds for y in f.labels]
        preds = [p for f in folds for p in f.predictions[mode]]
        systems[mode] = {"fold_uar": [f.emotion[mode]["uar"] for f in folds],
                         "fold_accuracy": [f.emotion[mode]["accuracy"] for f in folds],
                         "pooled": _pooled(labels, preds)}
    for s in systems.values():
        s["mean_uar"] = float(np.mean(s["fold_uar"]))
        s["mean_accuracy"] = float(np.mean(s["fold_accuracy"]))
    laughs = [x for f in folds for x in f.laughs]
    fa = {m: {"utterances": sum(f.false_alarms[m]["utterances"] for f in folds),
              "with_event": sum(f.false_alarms[m]["with_event"] for f in folds)} for m in ("model", "model_online")}
    for v in fa.values():
        v["share"] = v["with_event"] / v["utterances"] if v["utterances"] else None
    return {"folds": [f.name for f in folds], "speakers": [f.test_speaker for f in folds], "emotion": systems,
            "laughter": {"found": sum(x["found"] for x in laughs), "files": len(laughs), "per_file": laughs,
                         "false_alarms": fa, "thresholds": [f.threshold for f in folds]},
            "prior_weights": [f.prior_weight for f in folds],
            "epochs": [{"best": f.best_epoch, "run": f.epochs_run} for f in folds]}


def evaluate(cfg: TrainConfig, data: corpora.RealData, features_dir: Path, functionals: Path | None,
             out_dir: Path, opts: EvalOptions, folds: Sequence[str] | None = None) -> dict[str, Any]:
    """Every fold (or those named in ``folds``), the peers, the summary, ``report.json``, ``summary.md``
    and the confusion PNGs in ``out_dir``."""
    all_folds = loso_folds(data, opts.seed)
    chosen = [f for f in all_folds if folds is None or f.name in folds or f.test_speaker in folds]
    if not chosen:
        raise ValueError(f"folds {list(folds or [])}: no such fold; expected speaker ids {data.speakers} "
                         f"or fold names {[f.name for f in all_folds]}")
    results = [run_fold(f, data, features_dir, cfg, out_dir / f.name, opts) for f in chosen]
    peers = run_peers(functionals, data, chosen) if functionals is not None else {}
    summary = summarize(results, peers)
    summary["laughter"]["calibration_only"] = data.calibration_keys
    summary["options"] = asdict(opts)
    write_json(out_dir / "report.json", {"summary": summary, "folds": [asdict(r) for r in results], "peers": peers})
    from avemotion._io import atomic_write_text

    atomic_write_text(out_dir / "summary.md", markdown(summary))
    plot_confusions(summary, out_dir)
    return summary
