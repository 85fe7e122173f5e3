"""What a training run keeps on disk: weights, the resume state, JSON records.

Every file goes through :mod:`avemotion._io` (temp file + fsync + ``os.replace``), so an interrupted
run leaves the previous version of a file or none, never a partial one. Keras writes ``.weights.h5``
files only to a path, so :func:`save_weights` lets Keras write a private temporary file beside the
target and hands its bytes to the atomic writer.

Run directory layout (see :mod:`avemotion.training.train`)::

    model.weights.h5                 best weights (lowest selection loss)
    checkpoint/last.weights.h5       weights at the end of the last finished epoch
    checkpoint/state.json            :class:`RunState` of that epoch (resume)

TensorFlow/Keras are not imported here (the model object brings them).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from avemotion._io import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)

BEST_WEIGHTS = "model.weights.h5"
CHECKPOINT_DIR = "checkpoint"
LAST_WEIGHTS = "last.weights.h5"
STATE_FILE = "state.json"


def _default(o: Any) -> Any:
    return o.tolist() if hasattr(o, "tolist") else str(o)


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """``obj`` as indented JSON (numpy values as lists/scalars), written atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, default=_default) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not valid JSON ({exc})") from exc


def save_weights(model: Any, path: str | os.PathLike[str]) -> Path:
    """``model.save_weights`` to ``path`` (a ``*.weights.h5``) atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".weights.h5")
    os.close(fd)
    try:
        model.save_weights(tmp)
        atomic_write_bytes(target, Path(tmp).read_bytes())
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


@dataclass
class RunState:
    """Where a run stands after a finished epoch (``checkpoint/state.json``)."""

    epoch: int = 0                      # epochs finished
    history: list[dict[str, Any]] = field(default_factory=list)
    best_loss: float = float("inf")
    best_epoch: int = 0
    wait: int = 0                       # epochs since the last improvement
    global_step: int = 0


class Checkpointer:
    """Best and last weights plus the :class:`RunState` of one run directory."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self.best_path = self.run_dir / BEST_WEIGHTS
        self.last_path = self.run_dir / CHECKPOINT_DIR / LAST_WEIGHTS
        self.state_path = self.run_dir / CHECKPOINT_DIR / STATE_FILE

    def save_best(self, model: Any) -> None:
        save_weights(model, self.best_path)

    def save_last(self, model: Any, state: RunState) -> None:
        """Last weights first, then the state that points at them (a crash in between resumes from
        the previous state with newer weights: at most one epoch is trained twice)."""
        save_weights(model, self.last_path)
        write_json(self.state_path, asdict(state))

    def resume(self, model: Any) -> RunState | None:
        """Load the last weights into ``model`` and return their state; None when there is none."""
        if not (self.state_path.is_file() and self.last_path.is_file()):
            return None
        raw = read_json(self.state_path)
        try:
            state = RunState(**raw)
        except TypeError as exc:
            raise ValueError(f"{self.state_path}: unexpected resume state ({exc})") from exc
        model.load_weights(str(self.last_path))
        log.info("resuming after epoch %d (best epoch %d)", state.epoch, state.best_epoch)
        return state

    def load_best(self, model: Any) -> None:
        if not self.best_path.is_file():
            raise FileNotFoundError(f"{self.best_path}: no best weights were saved (no epoch finished)")
        model.load_weights(str(self.best_path))
