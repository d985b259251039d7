"""The main job: a shim for `python -m harness atlantis experiment` (harness/recipes/atlantis/experiment.py).

    bash scripts/main.sh [flags]        (runs this script)
    python launch/experiment.py [--root R] [--fresh] [flags]    (--root: --run-dir, --fresh: --overwrite)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.cli import run_main  # noqa: E402
from harness.shims import launch  # noqa: E402


def main(argv=None, **hooks) -> int:
    return launch("experiment.py", argv, **hooks)


if __name__ == "__main__":
    raise SystemExit(run_main(main))
