#!/usr/bin/env bash
# GPU checks, run on a lent NVIDIA machine by the device tool (not part of `make test`).
#
#   bash benchmarks/gpu_check.sh ort      # installs onnxruntime-gpu from ORT_PARTS, GPU tests, ORT CUDA-EP LUTs
#   bash benchmarks/gpu_check.sh ortgraph # then the same with ORT's CUDA graphs (--cuda-graph)
#   bash benchmarks/gpu_check.sh torch    # torch-CUDA (CUDA-graph replay) LUTs for proxyless and fbnet
#   bash benchmarks/gpu_check.sh trt      # native TensorRT LUT (needs the tensorrt package there)
#   DEVICE=cpu INPUT=64 PY=.venv/bin/python bash benchmarks/gpu_check.sh dry   # the plumbing, on a CPU
#
# For each backend and space: `hwnas profile --device cuda`, `lut calibrate` on 10 networks, `lut validate`
# on 40 others; JSON results, plots and LUTs go to $OUT/<stage>.tar, the log to $OUT/<stage>.log.
# Wall times seen on an H100 (session 10): ort 292 s, torch 63 s, ortgraph > 255 s (ORT builds one session per
# network, with cuDNN's exhaustive algorithm search; fbnet's validation needs more than 120 s per step).
# ORT_PARTS: pieces of an xz-compressed tar of the onnxruntime-gpu wheel's contents (the wheel is larger
# than one transfer to the device machine), concatenated in name order.  Made here with:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 onnxruntime-gpu
#   unzip -q onnxruntime_gpu-*.whl -d ort && tar -cf - -C ort . | xz -9 -T2 > ort.tar.xz && split -n 4 -d -a 1 ort.tar.xz ortgpu.part
set -u
stage=${1:?usage: gpu_check.sh ort|ortgraph|torch|trt|dry}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_out}; R=$OUT/$stage; mkdir -p "$R"
STEP_TIMEOUT=${STEP_TIMEOUT:-240}
DEVICE=${DEVICE:-cuda}
INPUT=${INPUT:-224}
PY=${PY:-python3}

lut_round_trip() {  # backend, space, extra profile flags...
  local b=$1 s=$2; shift 2
  local tag="${s}_${b}$(echo "$*" | tr -d ' -')" t0=$SECONDS
  local lut="$R/$tag.yaml"
  timeout "$STEP_TIMEOUT" bash -c "
    $PY -m hwnas profile --space $s --device $DEVICE --input $INPUT --backend $b $* --rounds 3 --out '$lut' --quiet &&
    $PY -m hwnas lut calibrate --lut '$lut' --samples 10 --rounds 4 --quiet &&
    $PY -m hwnas lut validate --lut '$lut' --samples 40 --rounds 5 --plot '$R/${tag}_validation.png' --json > '$R/${tag}_val.json'"
  echo "$tag rc=$? wall=$((SECONDS - t0))s"
  $PY - "$R/${tag}_val.json" <<'EOF' || true
import json, sys
d = json.load(open(sys.argv[1]))
print({k: v for k, v in d.items() if k not in ("archs", "predicted_ms", "measured_ms")})
EOF
}

install_ort() {  # onnxruntime-gpu into /tmp/site (once per machine) from the ORT_PARTS pieces
  [ -d /tmp/site/onnxruntime ] || { mkdir -p /tmp/site && cat ${ORT_PARTS:?set ORT_PARTS to the pieces}* |
    $PY -c "import sys, tarfile; tarfile.open(fileobj=sys.stdin.buffer, mode='r|xz').extractall('/tmp/site', filter='data')"; }
  export PYTHONPATH=/tmp/site:$PYTHONPATH
}

{
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo 'no nvidia-smi'
case $stage in
  torch)
    $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
    for s in proxyless fbnet; do lut_round_trip torch $s --cuda-graph; done ;;
  ort)
    install_ort
    $PY -c "import torch, onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())"
    timeout 150 $PY -m pytest -q -rs -p no:cacheprovider tests/test_gpu.py 2>&1 | tail -8
    for s in proxyless fbnet; do lut_round_trip ort $s; done ;;
  ortgraph)
    install_ort
    timeout 100 $PY -m pytest -q -rs -p no:cacheprovider tests/test_gpu.py -k graph 2>&1 | tail -4
    for s in proxyless fbnet; do lut_round_trip ort $s --cuda-graph; done ;;
  trt)
    for s in proxyless fbnet; do lut_round_trip tensorrt $s; done ;;
  dry)
    lut_round_trip ort fbnet ;;
esac
} 2>&1 | tee "$OUT/$stage.log"
tar -cf "$OUT/$stage.tar" -C "$OUT" "$stage"
rm -rf "$R"
