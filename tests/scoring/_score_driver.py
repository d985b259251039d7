"""Test driver for the kill -9 tests: ``launch/score.py``'s ``main`` with an ``on_batch`` hook that SIGKILLs
this process, read from the environment so it works unchanged under torchrun:

    HARNESS_SCORING_KILL_AFTER=K       every rank dies before marking its batch K+1 done (K batches finished)
    HARNESS_SCORING_KILL_AFTER=K:R     only rank R does
    python tests/scoring/_score_driver.py [launch/score.py arguments]

Unset or empty: no hook, the plain entry point. The variable lives here, not in production code.
"""

import importlib.util
import os
import signal
import sys
from pathlib import Path

from harness import dist

KILL_ENV = "HARNESS_SCORING_KILL_AFTER"
ROOT = Path(__file__).resolve().parents[2]


def kill_hook(spec: str):
    """The ``on_batch`` callback for ``spec`` ("K" or "K:rank"), or None for an empty spec."""
    if not spec:
        return None
    k, _, r = spec.partition(":")
    after, only_rank = int(k), (int(r) if r else None)

    def on_batch(batch: int) -> None:
        if batch >= after and only_rank in (None, dist.rank()):
            os.kill(os.getpid(), signal.SIGKILL)

    return on_batch


def main() -> int:
    spec = importlib.util.spec_from_file_location("launch_score", ROOT / "launch" / "score.py")
    launch_score = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch_score)
    return launch_score.main(sys.argv[1:], on_batch=kill_hook(os.environ.get(KILL_ENV, "")))


if __name__ == "__main__":
    raise SystemExit(main())
