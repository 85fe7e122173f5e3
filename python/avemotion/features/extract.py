"""Per-clip feature extraction over files and manifests (``avemotion extract``).

One task = one clip (``ClipTask``: clip id, media file, start/end seconds). :func:`extract_clip` is the
task function: it decodes the clip with PyAV, computes audio steps (:mod:`.audio`) and video steps
(:mod:`.video`), writes ``{out_dir}/{clip_id}.npz`` atomically (:mod:`.clipfile`) and returns a
:class:`ClipResult`. It never raises for a bad clip: corrupt or empty files, a missing stream, an odd
sample rate, no face... become a result with ``status`` ``error`` (no file written) or ``ok`` with a
``warning`` (a file written):

- unreadable / corrupt / empty (0 bytes) file, range outside the media, nothing decoded -> ``error``;
- audio stream present but unusable (sample rate below 8 kHz, decode failure) -> ``error``;
- no audio stream, or no video stream -> ``ok`` with zero steps for that modality and a warning
  (``error`` when neither modality gives anything);
- no face in any sampled frame -> ``ok``, every video step masked, warning ``no face``;
- clip shorter than one audio window -> ``ok``, zero audio steps, warning.

:func:`extract_corpus` runs tasks in a local process pool (default) or on Ray (``backend="ray"``,
same task function) and keeps ``{out_dir}/index.csv`` (``INDEX_COLUMNS``; rewritten atomically as
clips finish and at the end). Every file is written through ``avemotion._io`` (0666 minus the umask).
Pool workers die with the process that started them (:func:`die_with_parent`), so a killed run leaves
no worker behind.

Resume: a clip whose ``.npz`` exists is skipped only when the file is intact: its size and sha256 match
what ``index.csv`` recorded when it was written (columns ``bytes``, ``sha256``), or, where the index
has no such record (lost, or written by an older version), it loads through ``clipfile.load_clip``.
A damaged file (truncated, altered) is removed with a warning and the clip extracted again. Files
appear only when complete, so a killed run leaves no partial output; clips that failed are tried again.

Layout: this module holds :func:`extract_corpus` and re-exports the rest: settings, tasks, results and
:func:`read_tasks` (``_extract_task``), the task function (``_extract_clip``), the index and resume
checks (``_extract_index``), the pool / Ray runners (``_extract_run``). Import every name from here.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from avemotion.features._extract_clip import _STATE, _extractors, extract_clip  # noqa: F401 (benchmarks)
from avemotion.features._extract_index import (
    _verified_result,
    file_digest,
    read_index,
    write_index,
)
from avemotion.features._extract_run import (
    _pool_map,
    _ray_map,
    die_with_parent,
    gpu_workers,
    import_ray,
)
from avemotion.features._extract_task import (
    INDEX_COLUMNS,
    INDEX_NAME,
    ClipResult,
    ClipTask,
    ExtractSettings,
    read_tasks,
)

__all__ = [
    "INDEX_COLUMNS",
    "INDEX_NAME",
    "ClipResult",
    "ClipTask",
    "ExtractSettings",
    "die_with_parent",
    "extract_clip",
    "extract_corpus",
    "file_digest",
    "gpu_workers",
    "import_ray",
    "read_index",
    "read_tasks",
    "write_index",
]

logger = logging.getLogger(__name__)


def extract_corpus(
    tasks: Sequence[ClipTask],
    out_dir: str | os.PathLike[str],
    settings: ExtractSettings = ExtractSettings(),  # noqa: B008 (a frozen dataclass: immutable)
    *,
    workers: int = 1,
    backend: str = "process",
    resume: bool = True,
    ray_address: str | None = None,
    progress: Callable[[ClipResult], None] | None = None,
    index_every_s: float = 5.0,
) -> list[ClipResult]:
    """Extract every task into ``out_dir`` and write ``index.csv``; returns one result per task (task order).

    ``backend``: ``"process"`` (a spawn-context process pool of ``workers``; 1 = in this process) or
    ``"ray"`` (``ray.init(address=ray_address)``, same task function, one CPU per clip; ``workers``
    is not used: the cluster's CPUs decide; see :func:`_ray_map`). ``resume``: skip clips whose
    ``.npz`` exists and is intact (module docstring; their index row is kept, or rebuilt from the
    file); index rows of clips that are not among ``tasks`` (earlier runs into the same directory)
    are kept. ``progress`` is called once
    per finished or skipped clip. The index is rewritten at most every ``index_every_s`` seconds
    while running and at the end (also on interruption).
    """
    if backend not in ("process", "ray"):
        raise ValueError(f"backend must be 'process' or 'ray', got {backend!r}")
    workers = gpu_workers(settings, workers, backend)
    ids = [t.clip_id for t in tasks]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"duplicate clip ids: {dup[:5]}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    old = read_index(out)
    results: dict[str, ClipResult] = {}
    todo: list[ClipTask] = []
    for t in tasks:
        f = out / f"{t.clip_id}.npz"
        if resume and f.is_file():
            r = _verified_result(t, f, old.get(t.clip_id))
            if r is None:  # damaged: never leave it where a reader would take it as this clip's
                f.unlink(missing_ok=True)
                todo.append(t)
                continue
            results[t.clip_id] = r
            if progress:
                progress(r)
        else:
            todo.append(t)
    if not resume:
        for t in tasks:
            (out / f"{t.clip_id}.npz").unlink(missing_ok=True)

    wanted = set(ids)
    others = [
        r for cid, r in old.items() if cid not in wanted
    ]  # rows of earlier runs over other clips

    def ordered() -> list[ClipResult]:
        return [results[t.clip_id] for t in tasks if t.clip_id in results]

    def index_rows() -> list[ClipResult]:
        return ordered() + others

    logger.info(
        "%d clips: %d done before, %d to extract (%s backend)",
        len(tasks),
        len(results),
        len(todo),
        backend,
    )
    last = time.monotonic()
    it = (
        _ray_map(todo, out, settings, ray_address, extract_clip)
        if backend == "ray"
        else _pool_map(todo, out, settings, workers, extract_clip)
    )
    try:
        for r in it:
            results[r.clip_id] = r
            if r.status != "ok":
                logger.warning("clip %s: %s", r.clip_id, r.error)
            if progress:
                progress(r)
            if time.monotonic() - last > index_every_s:
                write_index(out, index_rows())
                last = time.monotonic()
    finally:
        try:
            close = getattr(it, "close", None)
            if close is not None:
                close()  # stops the pool / cancels Ray tasks now, not when garbage-collected
        finally:
            write_index(out, index_rows())
    return ordered()
