#!/usr/bin/env python3
"""``video_only_emotion.py``: the original video-only script, kept as a thin entry point.

Same as ``avemotion live --mode video ARGS...``; with neither ``--source`` nor ``--camera``
it opens camera 0 (and the default microphone in mode av), as the original script did. Every
``avemotion live`` flag works (``--source udp://127.0.0.1:5000``, ``--jsonl -``, ``--duration S``, ...).
"""

from __future__ import annotations

import sys

from avemotion.cli import main


def entry(argv: list[str]) -> int:
    args = ["live", "--mode", "video", *argv]
    if not any(a in ("--source", "--camera", "--list-devices") or a.startswith(("--source=", "--camera=")) for a in argv):
        args += ["--camera", "0"]
    return main(args)


if __name__ == "__main__":
    sys.exit(entry(sys.argv[1:]))
