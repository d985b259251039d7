#!/usr/bin/env bash
# Here (CPU): rebuild the Python side of the `device` tool's GPU image as closely as PyPI allows (Python 3.12,
# torch 2.11.0, transformers 5.17.0, triton 3.6.0, tokenizers 0.23.2 and the image's other packages), install
# .whl/ onto it exactly as scripts/device_run.sh does, then import what the GPU stages import and run the CPU
# tests that lean most on torch and transformers APIs. Usage:
#   bash scripts/check_gpu_image_compat.sh [extra pytest args / test paths]
# The first run downloads torch 2.11's CUDA build and its CUDA 13 libraries (~3.5 GB, 5 GB on disk, ~3 min);
# later runs reuse the venv ($GPU_IMAGE_VENV, default /tmp/gpu-image-py312). Python 3.12: $PYTHON312,
# python3.12 on PATH, or pyenv's 3.12 (Debian 12 has no python3.12 package).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
VENV="${GPU_IMAGE_VENV:-/tmp/gpu-image-py312}"
# numpy < 2.4: triton 3.6's interpreter (TRITON_INTERPRET=1, CPU only) calls int() on a 1-element array, an error
# from numpy 2.4 on (triton 3.7 squeezes first); the GPU compiles the kernels and never interprets them.
image=(torch==2.11.0 triton==3.6.0 transformers==5.17.0 tokenizers==0.23.2 numpy==2.3.5 accelerate safetensors
       scikit-learn rich pytest ninja psutil einops msgpack py-cpuinfo)
tests=(tests/models tests/train/test_units.py tests/eval/test_rank.py tests/scoring/test_score.py tests/kernels)

find_py312() {
  local c
  for c in "${PYTHON312:-}" python3.12 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12; do
    if [ -n "$c" ] && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  echo "check_gpu_image_compat: no Python 3.12 found: set PYTHON312=/path/to/python3.12" >&2
  return 1
}

stamp="$(printf '%s\n' "${image[@]}" | sha256sum | cut -c1-16)"
if [ "$(cat "$VENV/.image-stamp" 2>/dev/null || true)" != "$stamp" ]; then
  py312="$(find_py312)"
  echo "[compat] creating $VENV with $py312 (one time: ~3.5 GB of torch + CUDA libraries)"
  rm -rf "$VENV" && "$py312" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q "${image[@]}"
  echo "$stamp" > "$VENV/.image-stamp"
fi

ls .whl/*.whl >/dev/null 2>&1 || { echo "check_gpu_image_compat: no .whl/: run scripts/device_prep.sh" >&2; exit 2; }
site="$(mktemp -d)"; trap 'rm -rf "$site"' EXIT
"$VENV/bin/python" -m pip install -q --no-index --no-deps --no-compile --target "$site" .whl/*.whl
export PYTHONPATH="$site:$ROOT" DS_ACCELERATOR=cpu HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false TORCH_EXTENSIONS_DIR="$VENV/torch_extensions"
py="$VENV/bin/python"

echo "[compat] pip check (image packages + carried wheels; without the repo, whose egg-info does not travel)"
PYTHONPATH="$site" "$py" -m pip check
echo "[compat] imports the GPU stages need"
"$py" - <<'PY'
import sys
import torch, triton, transformers, deepspeed, pydantic, liger_kernel  # noqa: E401
from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss  # noqa: F401  (bench_weighted_ce)
from cut_cross_entropy import linear_cross_entropy  # noqa: F401  (bench_weighted_ce)
import harness.train.deepspeed_api, harness.train.engine, harness.kernels.triton_ce, harness.recipes.atlantis.scoring.score  # noqa: E401,F401
from importlib.metadata import version
print("python", sys.version.split()[0], "torch", torch.__version__, "triton", triton.__version__,
      "transformers", transformers.__version__, "deepspeed", deepspeed.__version__, "pydantic", pydantic.__version__,
      "liger-kernel", version("liger-kernel"), "cut-cross-entropy", version("cut-cross-entropy"))
PY
[ $# -gt 0 ] || set -- "${tests[@]}"
echo "[compat] tests: $*"
"$py" -m pytest -q -ra -p no:cacheprovider "$@"
