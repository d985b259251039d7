#!/usr/bin/env bash
# The main job: sets up .venv if needed, then runs the experiment (embedded default unless args say otherwise).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
exec python launch/experiment.py "$@"
