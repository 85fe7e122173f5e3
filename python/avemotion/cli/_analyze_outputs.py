"""``avemotion analyze``: the inputs and their output paths, all checked before the model is loaded,
and the up-to-date check of a rerun (part of :mod:`avemotion.cli.analyze`)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avemotion.cli import UsageError
from avemotion.cli._common import check_output_dir, check_output_file, input_path


@dataclass
class _Outputs:
    rows: Path
    fmt: str
    events: Path
    summary: Path
    plot: Path | None

    def all(self) -> list[Path]:
        return [self.rows, self.events, self.summary] + ([self.plot] if self.plot else [])


@dataclass
class _Job:
    """One input: its source text, then the checked path/URL and outputs, or why it cannot run."""

    src: str
    path: Path | str | None = None
    outs: _Outputs | None = None
    error: UsageError | None = None


def _stem(src: Path | str) -> str:
    if isinstance(src, Path):
        return src.stem
    import re

    tail = src.split("://", 1)[1].split("?", 1)[0].rstrip("/")
    name = tail.rsplit("/", 1)[-1] if "/" in tail else tail
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).stem or name) or "stream"


def _check_output_args(args: argparse.Namespace, several: bool) -> None:
    """Combinations of output options, and the paths every input shares (``--out``, ``--jsonl``...)."""
    explicit = args.jsonl or args.csv
    if explicit and args.out:
        raise UsageError("--out and --jsonl/--csv: give one of them")
    if args.jsonl and args.csv:
        raise UsageError("--jsonl and --csv: give one of them")
    if explicit and several:
        raise UsageError("--jsonl/--csv name one file; with several inputs use --out DIR")
    if args.out is not None:
        check_output_dir(args.out, "--out")
    if explicit:
        check_output_file(Path(explicit), "--jsonl" if args.jsonl else "--csv")


def _outputs(args: argparse.Namespace, path: Path | str, several: bool) -> _Outputs:
    """The output paths of one input, checked (an existing directory where a file goes, a file
    where a directory goes: :class:`UsageError` naming the option)."""
    plot = args.plot
    if several and plot is not None:
        plot = plot.with_name(f"{plot.stem}_{_stem(path)}{plot.suffix}")
    explicit = args.jsonl or args.csv
    if explicit:
        f = Path(explicit)
        arg = "--jsonl" if args.jsonl else "--csv"
        outs = _Outputs(f, "jsonl" if args.jsonl else "csv", f.with_name(f"{f.stem}.events.json"),
                        f.with_name(f"{f.stem}.summary.json"), plot)
    else:
        base = args.out if args.out is not None else Path("out")
        d = base / _stem(path) if (several or args.out is None) else base
        arg = "--out"
        check_output_dir(d, arg)
        outs = _Outputs(d / f"windows.{args.format}", args.format, d / "events.json", d / "summary.json", plot)
    for p in outs.all():
        check_output_file(p, "--plot" if p == plot else arg)
    return outs


def _plan(args: argparse.Namespace) -> list[_Job]:
    """Every input with its outputs, checked first: a typo fails fast, before minutes of loading. With
    one input a problem is raised; with several it is recorded and the others go on."""
    several = len(args.inputs) > 1
    _check_output_args(args, several)
    jobs = []
    for src in args.inputs:
        job = _Job(src)
        try:
            job.path = input_path(src)
            job.outs = _outputs(args, job.path, several)
        except UsageError as exc:
            if not several:
                raise
            job.error = exc
        jobs.append(job)
    return jobs


def _fingerprint(path: Path | str) -> dict[str, Any]:
    if isinstance(path, str):
        return {"url": path}
    st = path.stat()
    return {"path": str(path), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def _model_id(predictor: Any) -> dict[str, Any]:
    files = predictor.bundle.meta.get("files", {})
    return {"path": str(predictor.bundle.path),
            "model_sha256": files.get("model.onnx", {}).get("sha256"),
            "training": predictor.bundle.training}


def _up_to_date(outs: _Outputs, path: Path | str, predictor: Any, mode: str, settings: Any) -> bool:
    """The outputs exist and were made from the same input, mode, model, laughter threshold and
    adaptation (``settings``: what changes the rows and events)."""
    if isinstance(path, str):
        return False  # a stream is analyzed again every time
    if not outs.summary.is_file() or not all(p.is_file() for p in outs.all()):
        return False
    try:
        old = json.loads(outs.summary.read_text())
    except (OSError, ValueError):
        return False
    was = old.get("settings") or {}
    return (old.get("input") == _fingerprint(path) and old.get("mode") == mode
            and (old.get("model") or {}).get("model_sha256") == _model_id(predictor)["model_sha256"]
            and was.get("laughter_threshold") == settings.laughter_threshold
            and was.get("adaptation_prior_weight") == (settings.adaptation_prior_weight if settings.adapts else None))
