#!/usr/bin/env bash
# The GPU session kit: ONE prepared script for the `device` tool's machine (one H200, 15 minutes = 900 s of device
# time in all, start-up included; at most 600 s per command; no machine starts with under 240 s left; 8 files come
# back from $OUT). ONE call, so one machine start: the plan (bash scripts/device_run.sh --plan) is
#   start-up allowance 180 s + run(command="HARNESS_GIT_REV=<rev> bash scripts/device_run.sh call1",
#   carry=[".whl"], timeout_s=600) = 780 s of 900 s
# A second call would need a second start whenever the machine went idle (180 s + at least 240 s left): it cannot
# fit, so the 7B rows come last in the same call, only if time is left. Steps in order of value, each under its own
# `timeout` (the cap below, or what is left of BUDGET_S if less); rows are appended per case, so a step that runs
# out of time keeps every earlier row:
#   wheels -> device.txt -> pytest -m gpu (the packed path included) -> weighted-CE kernel at N=16,384 vs
#   naive/Liger/CCE (gpu:kernel) -> Qwen2-1.5B ZeRO-3 training rows, packed and padded (gpu:train15) ->
#   Qwen2-7B rows (gpu:train7) only when at least TRAIN7_MIN_S are left.
# First, here: bash scripts/device_prep.sh (gathers .whl/).
# (<rev>: `git rev-parse --short HEAD` here, +dirty if uncommitted: the GPU's copy of the tree has no .git)
# The cases live in benchmarks/gpu_cases.py only. $OUT receives device_run_<call>.log (everything, stderr
# included, with step timings), device.txt, weighted_ce.csv and/or train_throughput.csv (CSVs are packed into
# results.tar.gz only if there are more than 6). Then, here: python -m benchmarks.merge <files_at>
# Dry run on a CPU machine (tests/scripts/test_device_run.py runs it): bash scripts/device_run.sh --dry-run call1
# (or DRY_RUN=1): no wheel install; every python command line runs with --dry-run (plan rows marked
# dry_run=plan, which benchmarks.merge refuses), pytest with --collect-only; $OUT is packed as on the GPU.
set -uo pipefail
cd "$(dirname "$0")/.."

# The plan (--plan prints it; tests/scripts/test_device_run.py checks it against the device budget)
DEVICE_BUDGET_S=900     # device time of a session, machine start-up included
STARTUP_S=180           # allowance per machine start (the start takes minutes)
MIN_START_LEFT_S=240    # no machine starts with less device time left than this
MAX_CALL_S=600          # the longest one command may run
CALL1_TIMEOUT_S=600     # run(..., timeout_s=CALL1_TIMEOUT_S)
CALL1_BUDGET_S=570      # the steps' deadline inside the call: 30 s for packing $OUT and the log
# per-step caps (s), in order; train7 gets what is left, and runs only with >= TRAIN7_MIN_S left
CAP_WHEELS=60; CAP_DEVICE=30; CAP_GPU_TESTS=140; CAP_KERNEL=100; CAP_TRAIN15=150; TRAIN7_MIN_S=90

plan() {
  local total=$((STARTUP_S + CALL1_TIMEOUT_S))
  local caps=$((CAP_WHEELS + CAP_DEVICE + CAP_GPU_TESTS + CAP_KERNEL + CAP_TRAIN15))
  echo "device plan: ${DEVICE_BUDGET_S} s of device time in all (start-up included), <= ${MAX_CALL_S} s per call, no start under ${MIN_START_LEFT_S} s left"
  echo "call1: run(command=\"HARNESS_GIT_REV=<rev> bash scripts/device_run.sh call1\", carry=[\".whl\"], timeout_s=${CALL1_TIMEOUT_S})"
  echo "  steps (cap s) within its ${CALL1_BUDGET_S} s budget: wheels ${CAP_WHEELS}, device ${CAP_DEVICE}, gpu_tests ${CAP_GPU_TESTS}, kernel ${CAP_KERNEL}, train15 ${CAP_TRAIN15} (= ${caps} s), train7 the rest (at least $((CALL1_BUDGET_S - caps)) s), run only if >= ${TRAIN7_MIN_S} s are left"
  echo "machine starts: 1 x ${STARTUP_S} s"
  echo "total: ${STARTUP_S} + ${CALL1_TIMEOUT_S} = ${total} s of ${DEVICE_BUDGET_S} s ($((DEVICE_BUDGET_S - total)) s spare)"
  [ "$total" -le "$DEVICE_BUDGET_S" ] && [ "$CALL1_TIMEOUT_S" -le "$MAX_CALL_S" ] && [ "$CALL1_BUDGET_S" -lt "$CALL1_TIMEOUT_S" ] \
    && [ "$caps" -le "$CALL1_BUDGET_S" ]
}

DRY="${DRY_RUN:-0}"
if [ "${1:-}" = "--plan" ]; then plan; exit $?; fi
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi
call="${1:?usage: bash scripts/device_run.sh [--plan | --dry-run] call1}"
case "$call" in
  call1) BUDGET_S="${BUDGET_S:-$CALL1_BUDGET_S}" ;;
  *) echo "unknown call '$call': expected call1 (the one call of the plan: --plan)" >&2; exit 2 ;;
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
  step wheels "$CAP_WHEELS" install_wheels
  if ! step device "$CAP_DEVICE" device_txt && [ "$DRY" != 1 ]; then
    echo "=== no usable GPU: stopping here"; pack_out; return 1
  fi
  step gpu_tests "$CAP_GPU_TESTS" pytest_gpu
  step kernel "$CAP_KERNEL" bench benchmarks/bench_weighted_ce.py --cases-from gpu:kernel --warmup 1 --repeats 3 \
    --out "$OUT/weighted_ce.csv"
  step train15 "$CAP_TRAIN15" bench benchmarks/bench_train_throughput.py --cases-from gpu:train15 --warmup 1 \
    --steps 3 --out "$OUT/train_throughput.csv"
  local left=$((DEADLINE - $(date +%s)))
  if [ "$left" -ge "$TRAIN7_MIN_S" ]; then
    step train7 "$left" bench benchmarks/bench_train_throughput.py --cases-from gpu:train7 --warmup 1 --steps 2 \
      --out "$OUT/train_throughput.csv"
  else
    echo "=== [$(now)] step train7 SKIPPED: ${left}s left, it needs ${TRAIN7_MIN_S}s"; STEPS+=("train7 skipped")
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
