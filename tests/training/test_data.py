"""Manifests + feature files → examples, leakage check, train-only statistics, synthetic data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from avemotion.data.manifest import COLUMNS as MANIFEST_COLUMNS
from avemotion.training.batches import crop_clip
from avemotion.training.config import TrainConfig
from avemotion.training.data import (
    LeakageError,
    check_group_leakage,
    compute_train_stats,
    load_class_weights,
    load_examples,
    read_clip,
    save_train_stats,
)
from avemotion.training.synthetic import generate_synthetic_dataset


def _cfg(ds) -> TrainConfig:  # type: ignore[no-untyped-def]
    cfg = TrainConfig()
    cfg.data.features_dir = str(ds.features_dir)
    cfg.data.emotion_manifest = str(ds.emotion_manifest)
    cfg.data.laughter_manifest = str(ds.laughter_manifest)
    return cfg


@pytest.fixture()
def synth(tmp_path: Path):  # type: ignore[no-untyped-def]
    return generate_synthetic_dataset(tmp_path / "syn", 36, seed=3)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_synthetic_files_follow_the_contract(synth) -> None:  # type: ignore[no-untyped-def]
    rows = _rows(synth.emotion_manifest) + _rows(synth.laughter_manifest)
    assert len(rows) == 36 and list(rows[0]) == list(MANIFEST_COLUMNS)
    with np.load(synth.features_dir / f"{rows[0]['clip_id']}.npz") as z:
        assert z["audio"].dtype == np.float32 and z["audio"].shape[1] == 89
        assert z["video"].shape[1] == 512 and z["video_mask"].dtype == bool
        assert z["audio_times"].dtype == np.float64
        json.loads(str(z["meta"]))
    groups: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        groups.setdefault((r["corpus"], r["group"]), set()).add(r["split"])
    assert all(len(s) == 1 for s in groups.values())
    assert {r["split"] for r in rows} == {"train", "val", "test"}


def test_synthetic_rerun_is_identical_and_resumes(tmp_path: Path) -> None:
    a = generate_synthetic_dataset(tmp_path / "a", 10, seed=5)
    first = (a.features_dir / "emo_00000.npz").read_bytes()
    (a.features_dir / "emo_00001.npz").unlink()
    generate_synthetic_dataset(tmp_path / "a", 10, seed=5)
    assert (a.features_dir / "emo_00000.npz").read_bytes() == first
    assert (a.features_dir / "emo_00001.npz").is_file()
    with pytest.raises(ValueError, match="n_clips: expected >= 2"):
        generate_synthetic_dataset(tmp_path / "b", 1)


def test_load_examples_joins_labels_and_skips_missing(synth) -> None:  # type: ignore[no-untyped-def]
    victim = _rows(synth.emotion_manifest)[0]["clip_id"]
    (synth.features_dir / f"{victim}.npz").unlink()
    examples, report = load_examples(_cfg(synth))
    assert report.n_rows == 36 and victim in report.skipped and len(examples) == 35
    emo = [e for e in examples if e.clip_id.startswith("emo")]
    laugh = [e for e in examples if e.clip_id.startswith("laugh")]
    assert all(e.emotion >= 0 and e.laughter == -1 for e in emo)
    assert all(e.emotion == -1 and e.laughter in (0.0, 1.0) for e in laugh)


def test_bad_manifest_label_is_named(synth) -> None:  # type: ignore[no-untyped-def]
    text = synth.emotion_manifest.read_text().replace(",clip,", ",clip,", 1)
    lines = text.splitlines()
    parts = lines[1].split(",")
    parts[5] = "joy"
    lines[1] = ",".join(parts)
    synth.emotion_manifest.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"emotion_synthetic.csv:2: label must be one of .* got 'joy'"):
        load_examples(_cfg(synth))


def test_leakage_check_fires_on_a_group_in_two_splits(synth) -> None:  # type: ignore[no-untyped-def]
    examples, _ = load_examples(_cfg(synth))
    check_group_leakage(examples)  # the generator's split is clean
    rows = _rows(synth.laughter_manifest)
    by_group: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_group.setdefault(r["group"], []).append(r)
    g, members = next((g, m) for g, m in by_group.items() if len(m) >= 2)
    members[0]["split"] = next(s for s in ("train", "val", "test") if s != members[1]["split"])
    with synth.laughter_manifest.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(MANIFEST_COLUMNS))
        w.writeheader()
        w.writerows(rows)
    examples, _ = load_examples(_cfg(synth))
    with pytest.raises(LeakageError, match=f"synthetic_laughter:{g}"):
        check_group_leakage(examples)


def test_clip_in_two_splits_across_manifests_is_leakage(synth) -> None:  # type: ignore[no-untyped-def]
    e_rows = _rows(synth.emotion_manifest)
    l_rows = _rows(synth.laughter_manifest)
    clash = dict(l_rows[0], clip_id=e_rows[0]["clip_id"],
                 split=next(s for s in ("train", "val", "test") if s != e_rows[0]["split"]))
    with synth.laughter_manifest.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(MANIFEST_COLUMNS))
        w.writeheader()
        w.writerows(l_rows + [clash])
    with pytest.raises(LeakageError, match="clips listed in two splits"):
        load_examples(_cfg(synth))


def test_stats_come_from_train_rows_only(synth, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = _cfg(synth)
    examples, _ = load_examples(cfg)
    stats = compute_train_stats(examples, cfg)
    train = [read_clip(e.path, 89, 512) for e in examples if e.split == "train"]
    a = np.concatenate([c.audio for c in train]).astype(np.float64)
    v = np.concatenate([c.video[c.video_mask] for c in train]).astype(np.float64)
    np.testing.assert_allclose(stats["audio"].mean, a.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stats["audio"].std, a.std(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stats["video"].mean, v.mean(0), atol=1e-6)
    assert stats["audio"].count == len(a) and stats["video"].count == len(v)
    # Overwriting every val/test clip with huge values changes nothing.
    for e in examples:
        if e.split != "train":
            c = read_clip(e.path, 89, 512)
            np.savez(e.path, audio=c.audio * 0 + 1e6, audio_times=c.audio_times, video=c.video + 50,
                     video_times=c.video_times, video_mask=c.video_mask, meta=np.array("{}"))
    again = compute_train_stats(examples, cfg)
    np.testing.assert_array_equal(again["audio"].mean, stats["audio"].mean)
    np.testing.assert_array_equal(again["video"].std, stats["video"].std)
    paths = save_train_stats(stats, tmp_path / "stats")
    from avemotion.feature_normalizer import load_normalization_stats

    st = load_normalization_stats("audio", tmp_path / "stats", strict=True)
    np.testing.assert_array_equal(st.mean, stats["audio"].mean)
    assert paths["video"].name == "video_normalization_stats.pkl"


def test_no_train_rows_is_an_error(synth) -> None:  # type: ignore[no-untyped-def]
    cfg = _cfg(synth)
    examples, _ = load_examples(cfg)
    with pytest.raises(ValueError, match="no training examples"):
        compute_train_stats([e for e in examples if e.split != "train"], cfg)


def test_crop_keeps_video_in_the_audio_span(synth) -> None:  # type: ignore[no-untyped-def]
    examples, _ = load_examples(_cfg(synth))
    clip = read_clip(examples[0].path, 89, 512)
    c = crop_clip(clip, 5, 0, np.random.default_rng(0))
    assert len(c.audio) == 5
    if len(c.video_times):
        assert c.video_times.min() > c.audio_times[0] - 0.1 - 1e-9 and c.video_times.max() <= c.audio_times[-1]
    assert len(crop_clip(clip, 0, 2, None).video) <= 2


def test_read_clip_rejects_wrong_dims_and_missing_keys(tmp_path: Path) -> None:
    p = tmp_path / "x.npz"
    np.savez(p, audio=np.zeros((3, 88), np.float32), audio_times=np.arange(3.0), video=np.zeros((0, 512), np.float32),
             video_times=np.zeros(0), video_mask=np.zeros(0, bool), meta=np.array("{}"))
    with pytest.raises(ValueError, match=r"x.npz: audio expected shape \(T, 89\), got \(3, 88\)"):
        read_clip(p, 89, 512)
    # no timestamps: an error naming the missing keys, never invented times
    np.savez(p, audio=np.zeros((3, 89), np.float32), video=np.zeros((0, 512), np.float32),
             video_mask=np.zeros(0, bool), meta=np.array("{}"))
    with pytest.raises(ValueError, match=r"x.npz: not a clip feature file, missing keys \['audio_times'\]"):
        read_clip(p, 89, 512)


def test_class_weights_from_balance_report(tmp_path: Path) -> None:
    p = tmp_path / "balance.json"
    p.write_text(json.dumps({"emotion": {"counts": {"anger": 10, "disgust": 30, "fear": 20, "happy": 20,
                                                    "neutral": 10, "sad": 30}}}))
    w = load_class_weights(p)
    assert w.shape == (6,) and w[0] == pytest.approx(120 / (6 * 10))
    p.write_text(json.dumps({"emotion": {"class_weights": {"angry": 2.0}}}))
    with pytest.raises(ValueError, match="unknown labels"):
        load_class_weights(p)


def test_read_clip_refuses_another_audio_mode(tmp_path: Path) -> None:
    """Clips written by `avemotion extract` record their audio mode; training refuses another one
    (no audio_mode in the settings = the legacy per-window mode); synthetic clips are not checked."""
    p = tmp_path / "x.npz"

    def save(meta: dict) -> None:  # type: ignore[type-arg]
        np.savez(p, audio=np.zeros((3, 89), np.float32), audio_times=np.arange(1.0, 4.0),
                 video=np.zeros((0, 512), np.float32), video_times=np.zeros(0), video_mask=np.zeros(0, bool),
                 meta=np.array(json.dumps(meta)))

    save({"settings": {"audio_mode": "sliding"}})
    assert len(read_clip(p, 89, 512, "sliding").audio) == 3
    with pytest.raises(ValueError, match=r"x.npz: audio features extracted in audio mode 'sliding', expected "
                                         r"features.audio_mode='window'"):
        read_clip(p, 89, 512, "window")
    save({"settings": {"audio_hop_s": 0.1}})  # made before the key: the legacy mode
    with pytest.raises(ValueError, match=r"audio mode 'window', expected features.audio_mode='sliding'"):
        read_clip(p, 89, 512, "sliding")
    save({"generator": "avemotion.training.synthetic"})
    assert len(read_clip(p, 89, 512, "sliding").audio) == 3
