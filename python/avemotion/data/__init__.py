"""Corpus processors and the unified manifest.

One module per corpus, each with a public ``process(root, ..., out=None) -> ProcessResult``:
``audioset``, ``ami``, ``tedlium``, ``mustard``, ``liris_accede`` (laughter / humor proxies) and
``cremad`` (emotion). ``manifest`` holds the schema, validation, atomic writing, split assignment,
leakage/overlap checks and the balance report. Submodules are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

CORPORA = ("audioset", "ami", "tedlium", "mustard", "liris_accede", "cremad")

__all__ = [*CORPORA, "manifest"]


def __getattr__(name: str) -> Any:
    if name in CORPORA or name == "manifest":
        return importlib.import_module(f"avemotion.data.{name}")
    raise AttributeError(f"module 'avemotion.data' has no attribute {name!r}")
