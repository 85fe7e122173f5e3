#!/usr/bin/env bash
# The device check (a lent GPU machine; see README "Benchmarks"): builds the C++ core there with the
# ONNX Runtime headers from .cache/ortdev, runs the core and inference benchmarks on its CPU, the
# FaceNet/MTCNN timings on CUDA vs CPU, and records which ONNX Runtime providers exist there.
# Expects facenet-pytorch's wheel in .whl/ (pip download --no-deps facenet-pytorch==2.5.3 -d .whl).
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
python3 -m pip install -q --no-deps --no-build-isolation --target /tmp/site . 2>&1 | tail -3
export PYTHONPATH=/tmp/site
cd /tmp  # import the installed package, not the source tree
python3 -c "import avemotion, json, onnxruntime as ort; i = avemotion.build_info(); i['ort_providers'] = ort.get_available_providers(); i['ort_version'] = ort.__version__; print(json.dumps(i, indent=1))" | tee "$OUT/build_info.json"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/nvidia_smi.csv"
lscpu | grep -E "Model name|^CPU\(s\)|Flags" | cut -c1-300 > "$OUT/lscpu.txt"
python3 "$OLDPWD/benchmarks/gpu_check.py" | tee "$OUT/gpu_check.json"
python3 -m pytest -q -p no:cacheprovider --rootdir "$OLDPWD" "$OLDPWD/benchmarks/bench_core.py" --benchmark-only \
  --benchmark-columns=median,rounds --benchmark-json="$OUT/bench_core.json" 2>&1 | grep -E "^(test_|Name|---)" | tee "$OUT/bench_core.txt"
AVEMOTION_BENCH_THREADS=1 python3 -m pytest -q -p no:cacheprovider --rootdir "$OLDPWD" "$OLDPWD/benchmarks/bench_inference.py" \
  --benchmark-only --benchmark-columns=median,rounds --benchmark-json="$OUT/bench_inference.json" 2>&1 | grep -E "^(test_|Name|---)" | tee "$OUT/bench_inference.txt"
