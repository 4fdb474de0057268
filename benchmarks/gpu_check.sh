#!/usr/bin/env bash
# One-shot GPU check (run on a lent NVIDIA machine by the device tool): CUDA tests, a CUDA LUT for the
# proxyless and fbnet spaces with calibration + validation, and the ORT-CUDA / TensorRT availability.
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
{
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
python3 -c "import torch, onnxruntime as o; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'ort', o.__version__, o.get_available_providers())"
python3 -c "import tensorrt" 2>&1 | tail -1
python3 -m pytest -q -rs -p no:cacheprovider tests/test_gpu.py 2>&1 | tail -12
for s in proxyless fbnet; do
  python3 -m hwnas profile --space $s --device cuda --backend torch --rounds 5 --out "$OUT/${s}_torch_cuda.yaml" --json
  python3 -m hwnas lut calibrate --lut "$OUT/${s}_torch_cuda.yaml" --samples 10 --rounds 5 --quiet
  python3 -m hwnas lut validate --lut "$OUT/${s}_torch_cuda.yaml" --samples 50 --rounds 6 --plot "$OUT/${s}_val.png" --json > "$OUT/${s}_val.json"
  python3 -c "import json;d=json.load(open('$OUT/${s}_val.json'));[d.pop(k) for k in ('archs','predicted_ms','measured_ms')];print('$s', json.dumps(d))"
done
python3 -m hwnas profile --space proxyless --device cuda --backend ort --out "$OUT/ort.yaml"; echo "ort-cuda rc=$?"
python3 -m hwnas profile --space proxyless --device cuda --backend tensorrt --out "$OUT/trt.yaml"; echo "tensorrt rc=$?"
} 2>&1 | tee "$OUT/log.txt"
