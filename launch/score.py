"""Scoring stage: a shim for `python -m harness atlantis score` (harness/shims.py).

    python launch/score.py --config run.json --set scoring.tokens_per_batch=2048
    torchrun --nproc_per_node 2 launch/score.py --config run.json          (also multi-node torchrun)
    deepspeed --num_gpus 2 launch/score.py --config run.json
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.cli import run_main  # noqa: E402
from harness.shims import launch  # noqa: E402


def main(argv=None, **hooks) -> int:
    return launch("score.py", argv, **hooks)


if __name__ == "__main__":
    raise SystemExit(run_main(main))
