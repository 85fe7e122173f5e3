#!/usr/bin/env bash
# Builds the C++ core in place (python/avemotion/_core*.so) for a checkout or git worktree, with the
# Python of an existing environment (default: the main checkout's .venv), so several worktrees can run
# their tests side by side without installing over each other:
#   bash scripts/dev_build.sh [PYTHON]   then   PYTHONPATH=python $PYTHON -m pytest -q tests/...
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-${PYTHON:-.venv/bin/python}}
[ -x "$PY" ] || { echo "dev_build: no python at $PY (pass one: bash scripts/dev_build.sh /path/to/python)" >&2; exit 2; }
ORT_INC=""
for d in .cache/ortdev/usr/include/onnxruntime "$(dirname "$(dirname "$PY")")/../.cache/ortdev/usr/include/onnxruntime"; do
  [ -f "$d/onnxruntime_c_api.h" ] && { ORT_INC=$(cd "$d" && pwd); break; }
done
BUILD=build/dev
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$PY" \
  -Dpybind11_DIR="$("$PY" -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
  -DAVEMOTION_ORT_INCLUDE_DIR="$ORT_INC" -DSKBUILD_PROJECT_VERSION="$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')" >/dev/null
cmake --build "$BUILD" -j 2 >/dev/null
cp "$BUILD"/_core*.so python/avemotion/
echo "dev_build: $(ls python/avemotion/_core*.so)"
