#!/usr/bin/env bash
# The GPU session kit: ONE prepared script for the `device` tool's machine (one H200, 15 minutes of device time
# in all, start-up included; at most 10 minutes per command; 8 files come back from $OUT). Two calls, each step
# under its own `timeout` and inside the call's budget (BUDGET_S); rows are appended per case, so a timeout or a
# failure keeps every earlier row. First, here: bash scripts/device_prep.sh (gathers .whl/), then
#   run(command="HARNESS_GIT_REV=<rev> bash scripts/device_run.sh call1", carry=[".whl"], timeout_s=540)
#       budget 480 s: wheels -> device.txt -> pytest -m gpu -> weighted-CE kernel (gpu:kernel) -> Qwen2-1.5B
#       ZeRO-3 training rows (gpu:train15)
#   run(command="HARNESS_GIT_REV=<rev> bash scripts/device_run.sh call2", carry=[".whl"], timeout_s=330)
#       budget 290 s: wheels -> device.txt -> Qwen2-7B ZeRO-3 + activation checkpointing (gpu:train7)
# (<rev>: `git rev-parse --short HEAD` here, +dirty if uncommitted: the GPU's copy of the tree has no .git)
# The cases live in benchmarks/gpu_cases.py only. $OUT receives device_run_<call>.log (everything, stderr
# included, with step timings), device.txt, weighted_ce.csv and/or train_throughput.csv (CSVs are packed into
# results.tar.gz only if there are more than 6). Then, here: python -m benchmarks.merge <files_at>
# Dry run on a CPU machine (tests/scripts/test_device_run.py runs it): bash scripts/device_run.sh --dry-run call1
# (or DRY_RUN=1): no wheel install; every python command line runs with --dry-run (plan rows marked
# dry_run=plan, which benchmarks.merge refuses), pytest with --collect-only; $OUT is packed as on the GPU.
set -uo pipefail
cd "$(dirname "$0")/.."

DRY="${DRY_RUN:-0}"
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi
call="${1:?usage: bash scripts/device_run.sh [--dry-run] call1|call2}"
case "$call" in
  call1) BUDGET_S="${BUDGET_S:-480}" ;;
  call2) BUDGET_S="${BUDGET_S:-290}" ;;
  *) echo "unknown call '$call': expected call1 or call2" >&2; exit 2 ;;
esac
OUT="${OUT:-/tmp/harness_out}"
mkdir -p "$OUT"
LOG="$OUT/device_run_$call.log"
PY="${PYTHON:-python3}"
SITE="${SITE:-/tmp/site}"        # where the wheels of .whl/ are installed on the GPU machine
MAX_FILES=8                     # what the device tool brings back from $OUT
MAX_CSVS="${MAX_CSVS:-6}"       # more CSVs than this are packed into one tarball (a test sets 1)
MAX_LOG_BYTES=$((15 * 2**20))   # 16 MiB per returned file; a longer log keeps its head and tail
T0=$(date +%s)
DEADLINE=$((T0 + BUDGET_S))
STEPS=()
FAILED=0

now() { date -u +%H:%M:%S; }

step() {  # step NAME MAX_SECONDS CMD...: run CMD under timeout min(MAX, time left), log rc and seconds
  local name=$1 max=$2; shift 2
  local left=$((DEADLINE - $(date +%s)))
  local limit=$((max < left ? max : left))
  if [ "$limit" -lt 15 ]; then
    echo "=== [$(now)] step $name SKIPPED: ${left}s left of the ${BUDGET_S}s budget"
    STEPS+=("$name skipped"); FAILED=1; return 0
  fi
  echo "=== [$(now)] step $name (timeout ${limit}s): $*"
  local t=$(date +%s)
  timeout -k 10 "$limit" bash -c '"$@"' step "$@"   # "$@" may name a function below (exported)
  local rc=$? dt=$(($(date +%s) - t))
  [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && echo "=== step $name TIMED OUT after ${dt}s (finished cases' rows kept)"
  echo "=== [$(now)] step $name rc=$rc ${dt}s"
  STEPS+=("$name rc=$rc ${dt}s"); [ "$rc" -eq 0 ] || FAILED=1
  return "$rc"
}

install_wheels() {
  if [ "$DRY" = 1 ]; then
    if ls .whl/*.whl >/dev/null 2>&1; then
      echo "dry run: would install into $SITE:"; ls -l .whl/
    else
      echo "dry run: no .whl/ here (the GPU run needs: bash scripts/device_prep.sh, then carry [\".whl\"])"
    fi
    return 0
  fi
  local stamp; stamp="$(ls -l .whl/ | sha256sum | cut -c1-16)"
  if [ "$(cat "$SITE/.stamp" 2>/dev/null)" = "$stamp" ]; then echo "wheels already in $SITE"; return 0; fi
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl \
    && echo "$stamp" > "$SITE/.stamp"
}

device_txt() {  # the machine and the versions, into the log and $OUT/device.txt
  set -o pipefail
  local require=--require-cuda; [ "$DRY" = 1 ] && require=
  "$PY" benchmarks/device_info.py $require | tee "$OUT/device.txt"
}

pytest_gpu() {
  local collect=; [ "$DRY" = 1 ] && collect=--collect-only
  # a test module importing a package the image lacks (e.g. matplotlib) must not stop the GPU tests
  "$PY" -m pytest -q -ra -p no:cacheprovider --continue-on-collection-errors -m gpu $collect tests
}

bench() {  # bench SCRIPT ARGS...: a benchmark, with --dry-run in a dry run
  local dry=; [ "$DRY" = 1 ] && dry=--dry-run
  "$PY" -u "$@" $dry
}
export -f install_wheels device_txt pytest_gpu bench
export DRY OUT PY SITE

pack_out() {  # keep $OUT within what comes back: <= MAX_CSVS CSVs loose, else one tarball
  local csvs=("$OUT"/*.csv)
  [ -e "${csvs[0]}" ] || csvs=()
  if [ "${#csvs[@]}" -gt "$MAX_CSVS" ]; then
    tar -czf "$OUT/results.tar.gz" -C "$OUT" "${csvs[@]##*/}" && rm -f "${csvs[@]}"
  fi
  echo "=== [$(now)] \$OUT ($OUT):"; ls -l "$OUT"
  local n; n=$(find "$OUT" -type f | wc -l)
  [ "$n" -le "$MAX_FILES" ] || { echo "=== \$OUT holds $n files: only $MAX_FILES come back"; FAILED=1; }
}

main() {
  # the rows' git column: $HARNESS_GIT_REV when given (the GPU copy of the tree has no .git), else git here
  local rev="${HARNESS_GIT_REV:-$(git rev-parse --short HEAD 2>/dev/null)}"
  echo "=== [$(now)] device_run.sh $call dry_run=$DRY budget=${BUDGET_S}s out=$OUT git=${rev:-unknown}"
  [ -n "$rev" ] || echo "=== WARNING: no git revision: rows will say git=unknown (pass HARNESS_GIT_REV=<rev>)"
  if [ "$DRY" = 1 ]; then
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
    command -v nvidia-smi >/dev/null 2>&1 || export DS_ACCELERATOR=cpu
  else
    ls .whl/*.whl >/dev/null 2>&1 || { echo "no .whl/: run scripts/device_prep.sh, carry [\".whl\"]"; return 2; }
    export PYTHONPATH="$SITE:$PWD"
  fi
  export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false TORCH_EXTENSIONS_DIR=/tmp/torch_extensions
  step wheels 90 install_wheels
  if ! step device 60 device_txt && [ "$DRY" != 1 ]; then
    echo "=== no usable GPU: stopping here"; pack_out; return 1
  fi
  if [ "$call" = call1 ]; then
    step gpu_tests 120 pytest_gpu
    step kernel 150 bench benchmarks/bench_weighted_ce.py --cases-from gpu:kernel --warmup 1 --repeats 3 \
      --out "$OUT/weighted_ce.csv"
    step train15 600 bench benchmarks/bench_train_throughput.py --cases-from gpu:train15 --warmup 1 --steps 3 \
      --out "$OUT/train_throughput.csv"
  else
    step train7 600 bench benchmarks/bench_train_throughput.py --cases-from gpu:train7 --warmup 1 --steps 3 \
      --out "$OUT/train_throughput.csv"
  fi
  pack_out
  echo "=== [$(now)] summary ($(($(date +%s) - T0))s of ${BUDGET_S}s):"
  printf '    %s\n' "${STEPS[@]}"
  return "$FAILED"
}

trim_log() {  # the log is one returned file: keep its head and tail when it outgrows the limit
  local size; size=$(stat -c %s "$LOG")
  [ "$size" -le "$MAX_LOG_BYTES" ] && return 0
  { head -c $((2 * 2**20)) "$LOG"; printf '\n... [%s bytes cut] ...\n' "$((size - MAX_LOG_BYTES))"
    tail -c $((MAX_LOG_BYTES - 2 * 2**20 - 100)) "$LOG"; } > "$LOG.tmp" && mv "$LOG.tmp" "$LOG"
}

main "$@" 2>&1 | tee -a "$LOG"
rc=${PIPESTATUS[0]}
trim_log
exit "$rc"
