#!/usr/bin/env bash
# Download and cut the AudioSet segments listed in an AudioSet manifest (yt-dlp + ffmpeg).
#
#   datasets/scripts/fetch_audioset_laughter.sh MANIFEST [OUT_DIR]
#
# MANIFEST: a manifest written by `avemotion data audioset` (datasets/manifests/audioset.csv). Each
# weak-label row's clip_id is `audioset:{YTID}_{start_ms}` and its media_path ends in
# `{YTID}_{start_ms}.wav`; the segment [start_ms, start_ms + end) of the YouTube video is downloaded,
# cut and saved as 16 kHz mono WAV under OUT_DIR (default: the folder of each media_path).
# Rows whose media name carries no start (strong-label clips named yt_{YTID}.mp3) are skipped with a
# note: fetch those with the laughter-detection repository's own tools.
#
# Resumable: existing outputs are skipped; each file is written to a temporary name and renamed.
# Rate-limited: SLEEP_S seconds between downloads (default 2) and yt-dlp --limit-rate RATE (default 2M).
# Failures (private/removed videos ...) are appended to OUT_DIR/failures.log (or FAIL_LOG) and the
# script goes on; it exits 3 when some failed, 0 when all are present.
# Exit 2: yt-dlp or ffmpeg missing, bad arguments. Exit 4: offline (PROBE_URL, default
# https://www.youtube.com, not reachable within 10 s).
set -euo pipefail

die() { echo "fetch_audioset_laughter: $2" >&2; exit "$1"; }

[[ $# -ge 1 && $# -le 2 ]] || die 2 "usage: $0 MANIFEST [OUT_DIR]"
MANIFEST=$1
OUT_DIR=${2:-}
SLEEP_S=${SLEEP_S:-2}
RATE=${RATE:-2M}
PROBE_URL=${PROBE_URL:-https://www.youtube.com}
YTDLP=${YTDLP:-yt-dlp}

[[ -f $MANIFEST ]] || die 2 "manifest not found: $MANIFEST (make it with: avemotion data audioset --root DIR --out $MANIFEST)"
command -v "$YTDLP" >/dev/null 2>&1 || die 2 "yt-dlp not found on PATH: install it (pip install yt-dlp) or set YTDLP=/path/to/yt-dlp"
command -v ffmpeg >/dev/null 2>&1 || die 2 "ffmpeg not found on PATH: install it (apt-get install ffmpeg)"
if command -v curl >/dev/null 2>&1; then
  curl -sS -o /dev/null --max-time 10 --head "$PROBE_URL" 2>/dev/null \
    || die 4 "offline: cannot reach $PROBE_URL; nothing downloaded (rerun when online; finished files are kept)"
else
  python3 - "$PROBE_URL" <<'PY' || die 4 "offline: cannot reach $PROBE_URL; nothing downloaded"
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=10)
PY
fi

# clip_id, media_path, end (the segment length) of weak rows, de-duplicated by media file.
mapfile -t JOBS < <(python3 - "$MANIFEST" <<'PY'
import csv, re, sys
seen = set()
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    for row in csv.DictReader(f):
        m = re.search(r"([A-Za-z0-9_-]{11})_(\d+)\.wav$", row["media_path"])
        if not m:
            continue
        if row["media_path"] in seen:
            continue
        seen.add(row["media_path"])
        print(m.group(1), int(m.group(2)) / 1000.0, float(row["end"]), row["media_path"], sep="\t")
PY
)
[[ ${#JOBS[@]} -gt 0 ]] || die 2 "no weak-label AudioSet rows ({YTID}_{start_ms}.wav media) in $MANIFEST"

n_ok=0 n_skip=0 n_fail=0
for job in "${JOBS[@]}"; do
  IFS=$'\t' read -r ytid start dur media <<<"$job"
  if [[ -n $OUT_DIR ]]; then out="$OUT_DIR/$(basename "$media")"; else out=$media; fi
  log=${FAIL_LOG:-$(dirname "$out")/failures.log}
  if [[ -s $out ]]; then n_skip=$((n_skip + 1)); continue; fi
  mkdir -p "$(dirname "$out")"
  tmp=$(mktemp -d)
  end=$(python3 -c "print($start + $dur)")
  if "$YTDLP" --quiet --no-warnings --limit-rate "$RATE" -f bestaudio \
       --download-sections "*${start}-${end}" -o "$tmp/src.%(ext)s" "https://www.youtube.com/watch?v=$ytid" \
     && src=$(ls "$tmp"/src.* 2>/dev/null | head -1) && [[ -n $src ]] \
     && ffmpeg -nostdin -loglevel error -y -i "$src" -t "$dur" -ac 1 -ar 16000 -c:a pcm_s16le "$tmp/out.wav" \
     && mv "$tmp/out.wav" "$out"; then
    n_ok=$((n_ok + 1))
  else
    n_fail=$((n_fail + 1))
    printf '%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$ytid" "$start" "download or cut failed" >>"$log"
  fi
  rm -rf "$tmp"
  sleep "$SLEEP_S"
done
echo "fetch_audioset_laughter: $n_ok downloaded, $n_skip already present, $n_fail failed" >&2
[[ $n_fail -eq 0 ]] || exit 3
