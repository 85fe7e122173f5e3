#!/usr/bin/env bash
# Rebuilds samples/demo_clip.mp4, the bundled demo clip (12 s, 640x480 25 fps H.264 + AAC 16 kHz mono):
#   0-6 s   real meeting speech (AMI corpus ES2011a headset, CC BY 4.0; ../shared/data/real/ami/)
#   6-10 s  synthetic speech (espeak-ng)
#   10-12 s silence, and no face in the picture (a masked video stretch)
# over a real face photo (skimage.data.astronaut(): NASA, public domain) for the first 10 s.
# Needs ffmpeg, espeak-ng, sox and a Python with scikit-image and Pillow.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
AMI=${AMI_WAV:-../shared/data/real/ami/ES2011a.Headset-0-40s-46s.wav}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$PY" - "$tmp/face.png" <<'PY'
import sys
from PIL import Image
from skimage import data
img = Image.fromarray(data.astronaut()).resize((480, 480))
canvas = Image.new("RGB", (640, 480), (40, 40, 40))
canvas.paste(img, (80, 0))
canvas.save(sys.argv[1])
PY
espeak-ng -s 150 -w "$tmp/tts.wav" "Well, that was a surprisingly good meeting. I really did not expect that. Ha ha ha."
sox "$AMI" -r 16000 -c 1 "$tmp/a1.wav" trim 0 6
sox "$tmp/tts.wav" -r 16000 -c 1 "$tmp/a2.wav" trim 0 4 pad 0 4
sox -n -r 16000 -c 1 "$tmp/a3.wav" trim 0 2
sox "$tmp/a1.wav" "$tmp/a2.wav" "$tmp/a3.wav" "$tmp/audio.wav"
ffmpeg -loglevel error -y -loop 1 -t 10 -i "$tmp/face.png" -f lavfi -t 2 -i color=c=0x282828:s=640x480:r=25 \
  -i "$tmp/audio.wav" \
  -filter_complex "[0:v]fps=25,format=yuv420p[v0];[1:v]format=yuv420p[v1];[v0][v1]concat=n=2:v=1:a=0[v]" \
  -map "[v]" -map 2:a -c:v libx264 -preset veryslow -crf 28 -r 25 -c:a aac -b:a 48k -ar 16000 -ac 1 \
  -movflags +faststart -shortest samples/demo_clip.mp4
echo "wrote samples/demo_clip.mp4 ($(stat -c %s samples/demo_clip.mp4) bytes)"
