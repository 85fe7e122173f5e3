#!/usr/bin/env python3
"""The seed's script, kept as a thin wrapper: `avemotion stats audio ARGS...`.

Computes audio normalization statistics from the training split of extracted features and writes
`audio_normalization_stats.pkl` (see `avemotion stats --help` and avemotion.feature_normalizer)::

    python scripts/extract_audio_normalization_stats.py --features DIR --manifest CSV [--out DIR]
"""

from __future__ import annotations

import sys

from avemotion.cli import main

if __name__ == "__main__":
    sys.exit(main(["stats", "audio", *sys.argv[1:]]))
