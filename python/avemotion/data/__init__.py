"""Corpus processors and the unified manifest.

One module per corpus, each with a public ``process(root, ..., out=None) -> ProcessResult``:
``audioset``, ``ami``, ``tedlium``, ``mustard``, ``liris_accede``, ``laughter_folder`` (laughter /
humor proxies), ``cremad`` and ``emodb`` (emotion; ``emodb`` also gives laughter negatives).
``registry`` maps each corpus name to its module, options and manifests (the CLI and the Makefile
read it); ``manifest`` holds the schema, the one manifest reader and writer, split assignment,
leakage/overlap checks and the balance report. Submodules are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from avemotion.data.registry import BY_NAME

CORPORA: tuple[str, ...] = tuple(BY_NAME)

__all__ = [*CORPORA, "manifest", "registry"]


def __getattr__(name: str) -> Any:
    if name in CORPORA or name == "manifest":
        return importlib.import_module(f"avemotion.data.{name}")
    raise AttributeError(f"module 'avemotion.data' has no attribute {name!r}")
