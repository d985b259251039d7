#!/usr/bin/env bash
# On the GPU machine of the `device` tool (never in CI): install the wheels scripts/device_prep.sh gathered,
# then run one stage; CSVs and logs go to $OUT. Each stage is sized for the tool's 10-minute command limit:
#   run(command="bash scripts/device_run.sh tests", carry=[".whl"])     GPU-marked tests (Triton kernel on CUDA)
#   ... kernel     bench_weighted_ce.py, GPU shapes (N=16384, H=3584, V=152064; Triton, Liger, CCE, naive)
#   ... train15    bench_train_throughput.py, Qwen2-1.5B shape, ZeRO-3, bf16, RE length + 512 + 2048
#   ... train7     bench_train_throughput.py, Qwen2-7B shape, ZeRO-3 + CPU offload, one GPU
#   ... scoring    bench_scoring.py on CUDA (bf16): tiny trio, then a Qwen2-0.5B-shape large model
# Then, here: python -m benchmarks.merge <files_at>/*.csv  (appends the rows to benchmarks/results/).
# Written without a GPU to try it on (none was lent to the task that wrote it): expect to fix small things.
set -uo pipefail
cd "$(dirname "$0")/.."
stage="${1:?stage: tests | kernel | train15 | train7 | scoring}"
OUT="${OUT:-/tmp/harness_out}"; mkdir -p "$OUT"
ls .whl/*.whl >/dev/null 2>&1 || { echo "no .whl/: run scripts/device_prep.sh here and carry .whl" >&2; exit 2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 3
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false TORCH_EXTENSIONS_DIR=/tmp/torch_extensions
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
python3 -c "import torch, triton, transformers, deepspeed; print(torch.__version__, triton.__version__, \
transformers.__version__, deepspeed.__version__)" | tee -a "$OUT/device.txt"
case "$stage" in
  tests)   python3 -m pytest -q -ra -m gpu tests 2>&1 | tee "$OUT/gpu_tests.log" ;;
  kernel)  python3 benchmarks/bench_weighted_ce.py --out "$OUT/weighted_ce.csv" 2>&1 | tee "$OUT/kernel.log" ;;
  train15) python3 benchmarks/bench_train_throughput.py --out "$OUT/train_throughput.csv" --warmup 2 --steps 5 \
             --cases "qwen2-1.5b-shape,8,100,5,ds_configs/zero3.json;qwen2-1.5b-shape,8,512,5,ds_configs/zero3.json;qwen2-1.5b-shape,2,2048,5,ds_configs/zero3.json" \
             2>&1 | tee "$OUT/train15.log" ;;
  train7)  python3 benchmarks/bench_train_throughput.py --out "$OUT/train_throughput.csv" --warmup 1 --steps 3 \
             --cases "qwen2-7b-shape,8,100,5,ds_configs/zero3_offload.json;qwen2-7b-shape,1,2048,5,ds_configs/zero3_offload.json" \
             2>&1 | tee "$OUT/train7.log" ;;
  scoring) python3 benchmarks/bench_scoring.py --threads 0 --out "$OUT/scoring.csv" 2>&1 | tee "$OUT/scoring.log"
           python3 benchmarks/bench_scoring.py --threads 0 --big-vocab 0 --models large=qwen2-0.5b-shape \
             --out "$OUT/scoring.csv" 2>&1 | tee -a "$OUT/scoring.log" ;;
  *) echo "unknown stage $stage" >&2; exit 2 ;;
esac
