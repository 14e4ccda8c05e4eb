#!/usr/bin/env bash
# Issue 16's checks on an NVIDIA GPU, in one call of about 3-5 minutes:
#   1. the GPU tests (tests/infer/test_gpu.py: CUDA and TensorRT against the CPU reference,
#      the engine cache, memory at 2048x2048) and the torch device-path tests;
#   2. `livetrack bench speed` for cuda (and tensorrt where it imports) beside the fp32
#      ONNX Runtime CPU reference, at 512, 1024 and 2048 px, batch 1 (latency) and 8
#      (throughput), fast path (frame -> positions all on the GPU).
# Results go to $OUT (default /tmp/livetrack-gpu-check): env.txt, pytest.log, bench.log, speed/speed.md,
# speed/speed.json. Run from anywhere: `bash benchmarks/gpu_check.sh`.
#
# It runs with the python3 that holds a CUDA build of torch (on a device machine: the
# image's), on the checkout as it is: livetrack need not be installed. The shipped models
# are found through LIVETRACK_MODEL_PATH; wheels in .whl/ (e.g. platformdirs, tensorrt) are
# installed to a scratch folder first where present.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/livetrack-gpu-check}
mkdir -p "$OUT/speed"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
export LIVETRACK_MODEL_PATH="$PWD/calibration"
export LIVETRACK_ENGINE_CACHE="${LIVETRACK_ENGINE_CACHE:-/tmp/livetrack-engines}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/livetrack-site .whl/*.whl && export PYTHONPATH="$PYTHONPATH:/tmp/livetrack-site"
fi
if ! "$PY" -c "import platformdirs" 2>/dev/null; then
    # livetrack's base install has platformdirs; a bare GPU image may not. Only the model
    # and engine-cache folders are asked of it here: a minimal module answering those two.
    mkdir -p /tmp/livetrack-shim
    cat >/tmp/livetrack-shim/platformdirs.py <<'EOF'
import os
def user_data_dir(appname=None, appauthor=None, *a, **k):
    return os.path.join(os.path.expanduser("~/.local/share"), appname or "")
def user_cache_dir(appname=None, appauthor=None, *a, **k):
    return os.path.join(os.path.expanduser("~/.cache"), appname or "")
EOF
    export PYTHONPATH="$PYTHONPATH:/tmp/livetrack-shim"
fi

{
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
    git log -1 --oneline 2>/dev/null
    "$PY" - <<'EOF'
import platform, torch
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda,
      "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("gpu", torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0))
try:
    import tensorrt
    print("tensorrt", tensorrt.__version__)
except Exception as exc:
    print("tensorrt: does not import:", exc)
import onnxruntime
print("onnxruntime", onnxruntime.__version__)
from livetrack import registry
print(registry.choose_backend()[1])
EOF
    lscpu | grep -E "Model name|^CPU\(s\)"
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

echo "== GPU tests" | tee "$OUT/pytest.log"
timeout 170 "$PY" -m pytest -q -rs -p no:cacheprovider \
    tests/infer/test_gpu.py tests/infer/test_device_pipeline.py tests/infer/test_engine_cache.py \
    tests/batch/test_gpus.py \
    2>&1 | tee -a "$OUT/pytest.log"

backends=(-b cuda)
if "$PY" -c "import tensorrt" 2>/dev/null; then
    backends+=(-b tensorrt)
fi
echo "== bench speed ${backends[*]}" | tee "$OUT/bench.log"
timeout 300 "$PY" -m livetrack bench speed "${backends[@]}" --model spots \
    --size 512 --size 1024 --size 2048 --batch 1 --batch 8 \
    --frames 150 --rounds 1 --no-trackpy --fast-only --out "$OUT/speed" \
    2>&1 | tee -a "$OUT/bench.log"
echo "results in $OUT"
