"""``avemotion stats {audio,video}``: training-split normalization statistics from extracted features.

Reads the per-clip feature files of an extraction directory (``{clip_id}.npz`` through
``avemotion.features.clipfile``, the one clip reader) for the manifest rows of one split (default
``train``: no leakage), accumulates per-dimension mean/std in one pass with the C++ ``RunningStats``
(masked video steps, i.e. frames without a face, never count), and writes
``{name}_normalization_stats.pkl`` atomically to ``--out`` (default: the model directory,
``avemotion._contract.default_model_dir``).

Per-clip problems (feature file missing or unreadable, extraction marked ``error`` in ``index.csv``,
wrong shape, missing timestamps, NaN/Inf in a real step) are reported and skipped; the statistics
come from the other clips and the exit code is 3 (partial). Nothing usable: exit 1, nothing written.
An existing statistics file is replaced only with ``--force``: without it the check and the write are
one atomic step (``avemotion._io``, create-exclusive), so of two runs racing for one output exactly
one writes and the other exits 2 saying so. A rerun recomputes from the files (one cheap pass) and
replaces the output atomically, so an interrupted run never leaves a half-written file.

Example::

    avemotion stats audio --features features/cremad --manifest datasets/manifests/emotion_v1.csv
    avemotion stats video --features features/cremad --manifest emotion_v1.csv --out models/new --force
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avemotion.cli import EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, UsageError

MODALITIES = ("audio", "video")


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser(
        "stats",
        help="compute training-split normalization statistics from extracted features",
        description="Compute per-dimension mean/std of extracted audio (89-d) or video (512-d) "
        "features over one manifest split (default train; masked video steps excluded) and write "
        "{modality}_normalization_stats.pkl atomically. Exit 3 when some clips failed.",
    )
    p.add_argument("modality", choices=MODALITIES, help="which feature statistics to compute")
    p.add_argument(
        "--features", required=True, type=Path, help="extraction directory with {clip_id}.npz"
    )
    p.add_argument(
        "--manifest", required=True, type=Path, help="manifest CSV with clip_id and split columns"
    )
    p.add_argument(
        "--split-column", default="split", help="manifest column holding the split (default: split)"
    )
    p.add_argument(
        "--clip-column",
        default="clip_id",
        help="manifest column holding the clip id (default: clip_id)",
    )
    p.add_argument("--split", default="train", help="split to compute from (default: train)")
    p.add_argument(
        "--all-splits",
        action="store_true",
        help="use every manifest row whatever its split (leaks evaluation data into the statistics)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for {modality}_normalization_stats.pkl "
        "(default: $AVEMOTION_MODEL_DIR or models/dynamic_padding_no_leakage)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing statistics file")
    p.add_argument("--limit", type=int, default=None, help="use at most N clips (quick checks)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


@dataclass
class StatsJob:
    """Result of one pass: clips used, per-clip failures, and the accumulator."""

    clips_used: int = 0
    clips_empty: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)


def _read_manifest(path: Path, clip_col: str, split_col: str) -> list[tuple[str, str]]:
    # the one manifest reader: strict schema, labels, splits (``Train`` is an error), file:line
    from avemotion.data.manifest import COLUMNS, ManifestError, read_manifest

    if not path.is_file():
        raise UsageError(f"--manifest: file not found: {path}")
    text_cols = [c for c in COLUMNS if c not in ("start", "end")]
    bad = [c for c in (clip_col, split_col) if c not in text_cols]
    if bad:
        raise UsageError(f"--clip-column/--split-column: {bad} not manifest columns ({', '.join(text_cols)})")
    try:
        rows = read_manifest(path)
    except ManifestError as exc:
        raise UsageError(f"--manifest: {exc}") from None
    return [(getattr(r, clip_col), getattr(r, split_col)) for r in rows]


def _read_index(features: Path) -> dict[str, dict[str, str]]:
    """``index.csv`` rows by clip_id, when the extraction directory has one."""
    index = features / "index.csv"
    if not index.is_file():
        return {}
    with open(index, newline="", encoding="utf-8") as fh:
        return {row.get("clip_id", ""): row for row in csv.DictReader(fh)}


def _clip_file(features: Path, clip_id: str, index: dict[str, dict[str, str]]) -> Path:
    row = index.get(clip_id)
    if row and row.get("status") == "error":
        raise ValueError(f"extraction failed: {row.get('error') or 'see index.csv'}")
    if row and row.get("path"):
        p = Path(row["path"])
        return p if p.is_absolute() else features / p
    return features / f"{clip_id}.npz"


def _load_clip(path: Path, modality: str) -> tuple[Any, Any]:
    """(steps, mask or None) of one modality, read through the one clip reader."""
    from avemotion.features.clipfile import load_clip

    c = load_clip(path)
    return (c.audio, None) if modality == "audio" else (c.video, c.video_mask)


def run(args: argparse.Namespace) -> int:
    from avemotion import feature_normalizer as fn
    from avemotion._contract import DIMS
    from avemotion.kernels import RunningStats

    name: str = args.modality
    dim = DIMS[name]
    if not args.features.is_dir():
        raise UsageError(f"--features: directory not found: {args.features}")
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit: expected a positive number, got {args.limit}")
    out_path = fn.stats_path(name, args.out)
    if out_path.exists() and not args.force:
        raise UsageError(
            f"{out_path} exists; pass --force to replace it (or --out another directory)"
        )

    rows = _read_manifest(args.manifest, args.clip_column, args.split_column)
    present = sorted({s for _, s in rows})
    selected: list[str] = []
    seen: set[str] = set()
    for clip_id, split in rows:
        if (args.all_splits or split == args.split) and clip_id and clip_id not in seen:
            seen.add(clip_id)
            selected.append(clip_id)
    if not selected:
        raise UsageError(
            f"--manifest {args.manifest}: no rows with {args.split_column} == {args.split!r} "
            f"(splits present: {present})"
        )
    if args.limit is not None:
        selected = selected[: args.limit]
    index = _read_index(args.features)

    try:
        from tqdm import tqdm
    except ImportError:  # progress bar is optional
        tqdm = None

    job = StatsJob()
    running = RunningStats(dim)
    clips: Any = selected
    if tqdm is not None and not args.no_progress:
        clips = tqdm(selected, desc=f"{name} stats", unit="clip", disable=None, file=sys.stderr)
    for clip_id in clips:
        try:
            x, mask = _load_clip(_clip_file(args.features, clip_id, index), name)
            before = running.count
            running.update(x, mask)  # leaves the accumulator unchanged when it raises
        except ValueError as exc:
            job.failures.append((clip_id, str(exc)))
            print(f"{clip_id}: skipped: {exc}", file=sys.stderr)
            continue
        job.clips_used += 1
        if running.count == before:
            job.clips_empty += 1

    if running.count == 0:
        print(
            f"avemotion stats: error: no usable {name} steps in {len(selected)} clip(s) "
            f"({len(job.failures)} failed); nothing written",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    extra = {
        "split": "all" if args.all_splits else args.split,
        "manifest": str(args.manifest),
        "features": str(args.features),
        "clips_used": job.clips_used,
        "clips_empty": job.clips_empty,
        "clips_failed": len(job.failures),
        "command": "avemotion stats",
    }
    stats = fn.stats_from_running(running, name, extra=extra)  # warns about constant dims
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fn.ConstantFeatureWarning)  # (said once above)
            path = fn.save_normalization_stats(stats.mean, stats.std, name, args.out, count=stats.count,
                                               extra=extra, overwrite=args.force)  # fmt: skip
    except FileExistsError:
        raise UsageError(
            f"{out_path} was written by another run meanwhile; nothing written by this one "
            "(pass --force to replace it)"
        ) from None
    summary = stats.summary()
    summary.update(
        path=str(path),
        source="computed",
        clips_selected=len(selected),
        clips_used=job.clips_used,
        clips_empty=job.clips_empty,
        failures=[{"clip_id": c, "error": e} for c, e in job.failures],
        split=extra["split"],
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrote {path}")
        print(
            f"  {name}: {stats.count} steps from {job.clips_used} of {len(selected)} clips "
            f"(split {extra['split']}; {job.clips_empty} without {name} steps, "
            f"{len(job.failures)} failed)"
        )
        print(f"  std range: {summary['std_min']:.6g} .. {summary['std_max']:.6g}")
        constant = list(stats.clamped)
        print(f"  constant dims (std < {fn.STD_EPS:g}, scale 1): {constant if constant else 'none'}")
    return EXIT_PARTIAL if job.failures else EXIT_OK
