#!/usr/bin/env python3
"""The seed's script, kept as a thin wrapper: `avemotion stats video ARGS...`.

Computes video normalization statistics from the training split of extracted features and writes
`video_normalization_stats.pkl` (see `avemotion stats --help` and avemotion.feature_normalizer)::

    python scripts/extract_video_normalization_stats.py --features DIR --manifest CSV [--out DIR]
"""

from __future__ import annotations

import sys

from avemotion.cli import main

if __name__ == "__main__":
    sys.exit(main(["stats", "video", *sys.argv[1:]]))
