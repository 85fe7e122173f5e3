"""``avemotion stats {audio,video}`` and the seed's wrapper scripts."""

from __future__ import annotations

import csv
import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

from avemotion import feature_normalizer as fn
from avemotion.cli import main

REPO = Path(__file__).resolve().parents[2]
MANIFEST_COLUMNS = [
    "clip_id", "corpus", "media_path", "start", "end", "label", "label_kind", "source_detail",
    "group", "split",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AVEMOTION_MODEL_DIR", str(tmp_path / "default_models"))
    monkeypatch.delenv("AVEMOTION_STRICT", raising=False)
    fn.clear_cache()


def _write_clip(
    features: Path, clip_id: str, audio: np.ndarray, video: np.ndarray, mask: np.ndarray
) -> None:
    np.savez(
        features / f"{clip_id}.npz",
        audio=audio.astype(np.float32),
        audio_times=np.arange(len(audio)) * 0.1 + 1.0,
        video=video.astype(np.float32),
        video_times=np.arange(len(video)) * 0.2,
        video_mask=mask,
        meta=np.array(json.dumps({"clip_id": clip_id})),
    )


def _write_manifest(path: Path, rows: list[tuple[str, str]]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(MANIFEST_COLUMNS)
        for clip_id, split in rows:
            w.writerow(
                [
                    clip_id,
                    "cremad",
                    f"{clip_id}.wav",
                    0,
                    2.5,
                    "happy",
                    "clip",
                    "",
                    f"g_{clip_id}",
                    split,
                ]
            )


@pytest.fixture
def extraction(tmp_path: Path) -> dict[str, object]:
    """Five clips: three train (one without a face at all), one val and one test with huge values."""
    rng = np.random.default_rng(0)
    features = tmp_path / "features"
    features.mkdir()
    train_audio, train_video = [], []
    for i, (ta, tv) in enumerate([(8, 6), (5, 4), (3, 0)]):
        a = rng.normal(2, 3, (ta, 89))
        v = rng.normal(0, 0.05, (tv, 512))
        m = np.ones(tv, bool)
        if tv:
            m[1] = False
            v[1] = 0.0  # a frame without a face: zeros, masked
        _write_clip(features, f"tr{i}", a, v, m)
        train_audio.append(a.astype(np.float32))
        train_video.append(v.astype(np.float32)[m])
    for cid in ("va0", "te0"):
        _write_clip(features, cid, np.full((4, 89), 1e5), np.full((3, 512), 1e5), np.ones(3, bool))
    manifest = tmp_path / "manifest.csv"
    _write_manifest(
        manifest,
        [("tr0", "train"), ("va0", "val"), ("tr1", "train"), ("te0", "test"), ("tr2", "train")],
    )
    return {
        "features": features,
        "manifest": manifest,
        "audio": np.concatenate(train_audio).astype(np.float64),
        "video": np.concatenate(train_video).astype(np.float64),
        "out": tmp_path / "out",
    }


def _args(ex: dict[str, object], modality: str, *more: str) -> list[str]:
    return ["stats", modality, "--features", str(ex["features"]), "--manifest", str(ex["manifest"]),
            "--out", str(ex["out"]), "--no-progress", *more]  # fmt: skip


@pytest.mark.parametrize("modality", ["audio", "video"])
def test_train_only_stats_match_numpy(
    extraction: dict[str, object], modality: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_args(extraction, modality)) == 0
    st = fn.load_normalization_stats(modality, extraction["out"])  # type: ignore[arg-type]
    ref = extraction[modality]
    assert isinstance(ref, np.ndarray)
    assert st.source == "pickle" and st.count == len(ref)
    np.testing.assert_allclose(st.mean, ref.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(st.std, ref.std(0), rtol=1e-4)
    assert st.extra["split"] == "train" and st.extra["clips_used"] == 3
    out = capsys.readouterr().out
    assert "std range" in out and f"{len(ref)} steps from 3 of 3 clips" in out
    if modality == "video":
        assert st.extra["clips_empty"] == 1  # tr2 has no video steps


def test_json_summary_and_clamped_dims(
    extraction: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    features = extraction["features"]
    assert isinstance(features, Path)
    for cid in ("tr0", "tr1", "tr2"):  # make audio dim 7 constant across the train clips
        with np.load(features / f"{cid}.npz") as z:
            d = dict(z)
        d["audio"][:, 7] = 4.0
        np.savez(features / f"{cid}.npz", **d)
    with pytest.warns(fn.ConstantFeatureWarning, match=r"\[7\]"):
        assert main(_args(extraction, "audio", "--json")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["clamped"] == [7] and summary["count"] == 16 and summary["failures"] == []
    assert summary["std_min"] == 0.0  # stored as computed; normalized with scale 1 (x - mean)


def test_per_clip_failures_reported_and_skipped(
    extraction: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    features = extraction["features"]
    assert isinstance(features, Path)
    (features / "tr1.npz").unlink()
    with np.load(features / "tr2.npz") as z:
        d = dict(z)
    d["audio"][0, 3] = np.nan
    np.savez(features / "tr2.npz", **d)
    assert main(_args(extraction, "audio")) == 3
    err = capsys.readouterr().err
    assert "tr1: skipped" in err and "not found" in err and "tr2: skipped" in err
    st = fn.load_normalization_stats("audio", extraction["out"])  # type: ignore[arg-type]
    assert st.count == 8 and st.extra["clips_failed"] == 2


def test_index_csv_error_rows(
    extraction: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    features = extraction["features"]
    assert isinstance(features, Path)
    (features / "index.csv").write_text(
        "clip_id,status,path,error,n_audio,n_video,seconds\n"
        "tr0,ok,tr0.npz,,8,6,1.0\ntr1,error,,decoder exploded,0,0,0.1\ntr2,ok,tr2.npz,,3,0,1.0\n"
    )
    assert main(_args(extraction, "audio")) == 3
    assert "decoder exploded" in capsys.readouterr().err


def test_nothing_usable_writes_nothing(extraction: dict[str, object]) -> None:
    features = extraction["features"]
    assert isinstance(features, Path)
    for cid in ("tr0", "tr1", "tr2"):
        (features / f"{cid}.npz").unlink()
    assert main(_args(extraction, "video")) == 1
    assert not fn.stats_path("video", extraction["out"]).exists()  # type: ignore[arg-type]


def test_existing_output_needs_force(extraction: dict[str, object]) -> None:
    assert main(_args(extraction, "audio")) == 0
    path = fn.stats_path("audio", extraction["out"])  # type: ignore[arg-type]
    before = path.read_bytes()
    assert main(_args(extraction, "audio")) == 2
    assert path.read_bytes() == before
    assert main(_args(extraction, "audio", "--force")) == 0


def test_usage_errors(
    extraction: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("clip_id,label\ntr0,happy\n")
    args = _args(extraction, "audio")
    args[args.index("--manifest") + 1] = str(bad)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "bad.csv:1: header must be" in err and "missing column(s)" in err and "'split'" in err
    assert main(_args(extraction, "audio", "--split", "dev")) == 2
    assert "splits present: ['test', 'train', 'val']" in capsys.readouterr().err
    args = _args(extraction, "audio")
    args[args.index("--features") + 1] = str(tmp_path / "nope")
    assert main(args) == 2


def test_all_splits_includes_other_rows(extraction: dict[str, object]) -> None:
    assert main(_args(extraction, "audio", "--all-splits")) == 0
    st = fn.load_normalization_stats("audio", extraction["out"])  # type: ignore[arg-type]
    assert st.count == 16 + 8 and st.extra["split"] == "all"


def test_default_out_is_model_dir(extraction: dict[str, object], tmp_path: Path) -> None:
    args = _args(extraction, "audio")
    i = args.index("--out")
    del args[i : i + 2]
    assert main(args) == 0
    assert (tmp_path / "default_models" / "audio_normalization_stats.pkl").is_file()


@pytest.mark.parametrize("modality", ["audio", "video"])
def test_seed_wrapper_scripts(
    extraction: dict[str, object], modality: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = REPO / "scripts" / f"extract_{modality}_normalization_stats.py"
    monkeypatch.setattr(sys, "argv", [str(script), *_args(extraction, modality)[2:]])
    with pytest.raises(SystemExit) as info:
        runpy.run_path(str(script), run_name="__main__")
    assert info.value.code == 0
    assert fn.load_normalization_stats(modality, extraction["out"]).source == "pickle"  # type: ignore[arg-type]


def test_clip_without_modality_counts_as_empty(extraction: dict[str, object]) -> None:
    features = extraction["features"]
    assert isinstance(features, Path)
    with np.load(features / "tr1.npz") as z:
        d = dict(z)
    d["audio"] = np.zeros((0,), np.float32)  # a writer that stores an empty modality as (0,)
    d["audio_times"] = np.zeros((0,), np.float64)
    np.savez(features / "tr1.npz", **d)
    assert main(_args(extraction, "audio")) == 0
    st = fn.load_normalization_stats("audio", extraction["out"])  # type: ignore[arg-type]
    assert st.count == 11 and st.extra["clips_empty"] == 1 and st.extra["clips_used"] == 3


def test_clip_without_timestamps_is_a_failure_not_invented(extraction: dict[str, object], capsys: pytest.CaptureFixture[str]) -> None:
    features = extraction["features"]
    assert isinstance(features, Path)
    with np.load(features / "tr1.npz") as z:
        d = {k: z[k] for k in z.files if k != "audio_times"}
    np.savez(features / "tr1.npz", **d)
    assert main(_args(extraction, "audio")) == 3
    assert "tr1: skipped" in (err := capsys.readouterr().err) and "audio_times" in err


def _stats_racer(args: list[str], barrier, err_path: str) -> None:  # type: ignore[no-untyped-def]
    """One `avemotion stats` run in a forked process; both runs reach the write at the same moment."""
    import os

    from avemotion import feature_normalizer as fnm

    fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 2)
    real = fnm.save_normalization_stats

    def save_after_barrier(*a, **k):  # type: ignore[no-untyped-def]
        barrier.wait(timeout=60)  # both runs passed the early exists-check: the race of issue 16.6
        return real(*a, **k)

    fnm.save_normalization_stats = save_after_barrier  # type: ignore[assignment]
    sys.stderr = os.fdopen(2, "w", buffering=1)
    code = main(args)
    sys.stderr.flush()
    os._exit(code)


def test_two_concurrent_runs_on_one_output_one_fails_clearly(extraction: dict[str, object], tmp_path: Path) -> None:
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(2)
    args = _args(extraction, "audio")
    errs = [tmp_path / f"err{i}.txt" for i in range(2)]
    procs = [ctx.Process(target=_stats_racer, args=(args, barrier, str(e))) for e in errs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    codes = sorted(p.exitcode for p in procs)  # type: ignore[type-var]
    assert codes == [0, 2], [e.read_text() for e in errs]
    loser = next(e.read_text() for p, e in zip(procs, errs, strict=True) if p.exitcode == 2)
    assert "written by another run meanwhile" in loser and "--force" in loser
    st = fn.load_normalization_stats("audio", extraction["out"])  # type: ignore[arg-type]
    assert st.count == 16 and sorted(x.name for x in Path(str(extraction["out"])).iterdir()) == ["audio_normalization_stats.pkl"]
