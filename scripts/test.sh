#!/usr/bin/env bash
# The test command: sets up .venv if needed, then runs the CPU suite. Extra args go to pytest.
#   bash scripts/test.sh          the whole suite (what CI runs, .ci/run)
#   bash scripts/test.sh --fast   the unit tier, the developer loop: -m "not slow and not data and not tooling"
#                                 (under 3 minutes on 2 cores: no real data, no multi-process or end-to-end runs,
#                                 no benchmark-script or GPU-kit runs)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
tier=()
if [ "${1:-}" = "--fast" ]; then
  shift
  tier=(-m "not slow and not data and not tooling")
fi
set +e
python -m pytest -q -ra ${tier[@]+"${tier[@]}"} "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi
exit "$rc"
