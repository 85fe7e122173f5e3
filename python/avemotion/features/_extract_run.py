"""Running one task function over many clips for ``avemotion extract``: a spawn-context process pool
whose workers die with their parent, or Ray tasks; the CUDA worker rule. Clip failures become
``error`` rows of kind ``worker``; missing FaceNet weights stop the run. Re-exported by
:mod:`avemotion.features.extract`.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from avemotion.features._extract_task import ClipResult, ClipTask, ExtractSettings

#: the task function, one clip into ``out_dir`` (``extract_clip``; pool and Ray workers pickle it)
TaskFn = Callable[[ClipTask, Any, ExtractSettings], ClipResult]

logger = logging.getLogger("avemotion.features.extract")


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent_pid: int, *, poll_s: float = 1.0) -> str:
    """Make this process end when ``parent_pid`` (its parent) ends, however the parent ends.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, so the kernel kills this process when the parent
    thread that started it exits (a pool's workers are started by the thread that runs the pool, which
    outlives them); then, for the race where the parent died before the ``prctl``, ``getppid()`` is
    compared with ``parent_pid``. Elsewhere (or if ``prctl`` fails): a daemon thread polls
    ``getppid()`` every ``poll_s`` seconds. Returns ``"prctl"`` or ``"watchdog"`` (what was set up).
    """
    how = "watchdog"
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
                how = "prctl"
            else:
                logger.debug("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        except (OSError, AttributeError) as exc:
            logger.debug("prctl unavailable: %s", exc)
    if os.getppid() != parent_pid:  # the parent is already gone (reparented to init/a subreaper)
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "watchdog":

        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(poll_s)
            os.kill(os.getpid(), signal.SIGKILL)

        threading.Thread(target=watch, name="avemotion-parent-watchdog", daemon=True).start()
    return how


def _init_worker(threads: int, parent_pid: int | None = None) -> None:
    """Pool worker set-up: die with the parent (:func:`die_with_parent`: a killed ``extract`` leaves
    no worker behind), split the CPUs between workers (torch, ONNX Runtime, OpenMP)."""
    if parent_pid is not None:
        die_with_parent(parent_pid)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    os.environ.setdefault("AVEMOTION_WORKER_THREADS", str(threads))


def _worker_error(t: ClipTask, exc: BaseException) -> ClipResult:
    """The per-clip result of a worker that died or raised outside extract_clip's own handling."""
    return ClipResult(t.clip_id, "error", error=f"{type(exc).__name__}: {exc}", error_kind="worker",
                      media_path=t.media_path, start=t.start, end=t.end)


def _pool_map(
    tasks: Sequence[ClipTask], out_dir: Path, settings: ExtractSettings, workers: int, fn: TaskFn
) -> Iterable[ClipResult]:
    """Run ``fn`` (:func:`~avemotion.features.extract.extract_clip`) over ``tasks``: in this process
    for ``workers`` <= 1, else in a spawn-context pool; results in the order they finish."""
    if workers <= 1:
        for t in tasks:
            yield fn(t, out_dir, settings)
        return
    import concurrent.futures as cf
    import multiprocessing as mp

    threads = max(1, (os.cpu_count() or 1) // workers)
    with cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp.get_context("spawn"),
        initializer=_init_worker,
        initargs=(threads, os.getpid()),
    ) as pool:
        futs = {pool.submit(fn, t, out_dir, settings): t for t in tasks}
        try:
            for f in cf.as_completed(futs):
                try:
                    yield f.result()
                except Exception as exc:
                    from avemotion.features.video import FaceNetWeightsMissing

                    if isinstance(exc, FaceNetWeightsMissing):
                        raise
                    yield _worker_error(futs[f], exc)
        except BaseException:
            for f in futs:
                f.cancel()
            raise


def import_ray() -> Any:
    """``import ray``, or a RuntimeError saying how to install it (the ``[cluster]`` extra).

    Sets ``RAY_USAGE_STATS_ENABLED=0`` unless the environment says otherwise: a runtime this
    process starts sends no usage report out of the machine.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError(
            "--backend ray needs Ray, which is not installed: pip install 'avemotion[cluster]' "
            "(or pip install ray; or use the default process pool)"
        ) from exc
    return ray


def _ray_map(
    tasks: Sequence[ClipTask],
    out_dir: Path,
    settings: ExtractSettings,
    address: str | None,
    fn: TaskFn,
) -> Iterable[ClipResult]:
    """Run ``fn`` (:func:`~avemotion.features.extract.extract_clip`) as Ray tasks (one CPU each) and yield results as they finish.

    Joins the running Ray runtime if this process has one, else ``ray.init(address=address)``:
    ``None`` starts a local runtime for this run (stopped at the end), ``"auto"`` or
    ``"HOST:PORT"`` joins a cluster (only disconnected at the end). Clip failures are rows, as
    with the pool; a task that dies (worker crash, node lost) is an ``error`` row of kind
    ``worker``; missing FaceNet weights stop the run. Unfinished tasks are cancelled when the run
    stops early (an interrupt or an exception).
    """
    ray = import_ray()
    from avemotion.features.video import FaceNetWeightsMissing

    started = False
    if not ray.is_initialized():
        ray.init(address=address, logging_level=logging.WARNING)
        started = True
    pending: dict[Any, ClipTask] = {}
    try:
        remote = ray.remote(num_cpus=1)(fn)
        pending = {remote.remote(t, str(out_dir), settings): t for t in tasks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                t = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except Exception as exc:
                    # a task's exception arrives as ray's RayTaskError, which is also an instance
                    # of the original exception's class
                    if isinstance(exc, FaceNetWeightsMissing):
                        raise
                    yield _worker_error(t, exc)
    finally:
        for ref in pending:
            try:
                ray.cancel(ref)
            except Exception as exc:  # already finished or its node is gone
                logger.debug("ray.cancel: %s", exc)
        if started:
            ray.shutdown()


def gpu_workers(settings: ExtractSettings, workers: int, backend: str = "process") -> int:
    """Workers to use: ``workers``, or 1 when video runs on CUDA (see :class:`ExtractSettings`).

    Raises ``ValueError`` for a CUDA device with the Ray backend, ``RuntimeError`` for ``"cuda"``
    without CUDA in strict mode (:func:`avemotion.features.video.resolve_device`).
    """
    if not settings.video or settings.device == "cpu":
        return workers
    from avemotion.features.video import resolve_device

    if resolve_device(settings.device).type != "cuda":
        return workers
    if backend == "ray":
        raise ValueError(
            f"device={settings.device!r}: CUDA with the ray backend is not supported "
            "(every Ray worker would load the nets on the GPU); use backend 'process' or device 'cpu'"
        )
    if workers > 1:
        logger.warning(
            "device=%s: video on CUDA runs in one worker (asked for %d workers)",
            settings.device,
            workers,
        )
    return 1
