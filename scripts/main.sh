#!/usr/bin/env bash
# The main job: sets up .venv if needed, then runs the experiment (embedded default unless args say otherwise):
# python -m harness atlantis experiment, through the shim so that the old --root / --fresh spellings work too.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
exec python launch/experiment.py "$@"
