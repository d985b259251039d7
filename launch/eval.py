"""Evaluation: a shim for `python -m harness atlantis eval | semeval-score | compare | curves | weights`.

    python launch/eval.py run --model EXPORTED_DIR [--config run.json] [--split test]     (atlantis eval)
    python launch/eval.py score --key KEY --pred predictions.txt                          (atlantis semeval-score)
    python launch/eval.py compare RUN_DIR [RUN_DIR ...]                    (atlantis compare --run-dir RUN_DIR ...)
    python launch/eval.py curves RUN_DIR [RUN_DIR ...] --out curves.png [--split dev]     (atlantis curves)
    python launch/eval.py weights --config run.json --out-dir plots/                      (atlantis weights)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.cli import run_main  # noqa: E402
from harness.shims import launch  # noqa: E402


def main(argv=None, **hooks) -> int:
    return launch("eval.py", argv, **hooks)


if __name__ == "__main__":
    raise SystemExit(run_main(main))
