#!/usr/bin/env bash
# Fetch ONNX Runtime's C API headers (Debian 13 "trixie" libonnxruntime-dev) into .cache/ortdev.
#
# The onnxruntime wheel ships the library but no headers. The C API is ABI-stable and versioned, so the
# headers of API version N work with any installed library >= N (avemotion loads the wheel's
# libonnxruntime.so at run time). The .deb is only unpacked (dpkg -x), never installed.
#
# Idempotent: does nothing when the headers are already there. Never fails the set-up: when the
# headers cannot be obtained it says why and exits 0, and the build then uses onnxruntime's Python
# binding for inference (same outputs, a little more per-call overhead).
#
# Usage: scripts/fetch_ort_headers.sh [DEST]   (DEST defaults to <repo>/.cache/ortdev)
#        AVEMOTION_DEBIAN_MIRROR=http://mirror/debian scripts/fetch_ort_headers.sh
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-$ROOT/.cache/ortdev}
HDR=$DEST/usr/include/onnxruntime/onnxruntime_c_api.h

skip() { echo "fetch_ort_headers: $*; inference will use onnxruntime's Python binding" >&2; exit 0; }

if [ -f "$HDR" ]; then
  echo "fetch_ort_headers: headers already in $(dirname "$HDR")"
  exit 0
fi
for d in /usr/include/onnxruntime /usr/local/include/onnxruntime; do
  if [ -f "$d/onnxruntime_c_api.h" ]; then
    echo "fetch_ort_headers: system headers found in $d (CMake uses them); nothing to fetch"
    exit 0
  fi
done
command -v apt-get >/dev/null 2>&1 || skip "apt-get not found (not Debian/Ubuntu); install libonnxruntime-dev or pass -DAVEMOTION_ORT_INCLUDE_DIR"
command -v dpkg >/dev/null 2>&1 || skip "dpkg not found"

# The Debian mirror this machine already uses (first non-security 'debian' URI in its apt sources).
# AVEMOTION_DEBIAN_MIRROR overrides it.
MIRROR=${AVEMOTION_DEBIAN_MIRROR:-}
[ -n "$MIRROR" ] || MIRROR=$(grep -rhoE '^(deb +(\[[^]]*\] +)?|URIs: +)[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
  | awk '{print $NF}' | grep -v security | grep -i debian | head -1)
[ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$KEYRING" ] || skip "Debian archive keyring $KEYRING missing"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ortdev.XXXXXX") || skip "cannot create a temporary directory"
trap 'rm -rf "$WORK"' EXIT
echo "deb [signed-by=$KEYRING] $MIRROR trixie main" > "$WORK/sources.list"
mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial"
O=(-o "Dir::Etc::sourcelist=$WORK/sources.list" -o Dir::Etc::sourceparts=/dev/null
   -o "Dir::State::Lists=$WORK/lists" -o "Dir::Cache=$WORK/cache" -o Debug::NoLocking=1)
echo "fetch_ort_headers: downloading libonnxruntime-dev from $MIRROR (trixie)"
apt-get "${O[@]}" -qq update >"$WORK/log" 2>&1 || { tail -5 "$WORK/log" >&2; skip "apt-get update for trixie failed"; }
( cd "$WORK" && apt-get "${O[@]}" -qq download libonnxruntime-dev ) >>"$WORK/log" 2>&1 \
  || { tail -5 "$WORK/log" >&2; skip "apt-get download libonnxruntime-dev failed"; }
DEB=$(ls "$WORK"/libonnxruntime-dev_*.deb 2>/dev/null | head -1)
[ -n "$DEB" ] || skip "no .deb downloaded"
dpkg -x "$DEB" "$WORK/x" || skip "dpkg -x failed"
[ -f "$WORK/x/usr/include/onnxruntime/onnxruntime_c_api.h" ] || skip "the package holds no onnxruntime_c_api.h"
# Keep only the headers (the .deb's .so symlink and CMake files point at a library we do not use).
mkdir -p "$DEST.tmp/usr/include" && rm -rf "$DEST.tmp/usr/include/onnxruntime"
cp -r "$WORK/x/usr/include/onnxruntime" "$DEST.tmp/usr/include/" || skip "copy failed"
rm -rf "$DEST" && mkdir -p "$(dirname "$DEST")" && mv "$DEST.tmp" "$DEST"
API=$(grep -m1 -oE '#define ORT_API_VERSION [0-9]+' "$HDR" | awk '{print $3}')
echo "fetch_ort_headers: headers (ORT_API_VERSION ${API:-?}) in $(dirname "$HDR"); rebuild avemotion to use them"
