"""Test driver for the kill -9 tests: ``launch/score.py``'s ``main`` with an ``on_batch`` hook that SIGKILLs
this process, read from the environment so it works unchanged under torchrun:

    HARNESS_SCORING_KILL_AFTER=K       every rank dies before marking its batch K+1 done (K batches finished)
    HARNESS_SCORING_KILL_AFTER=K:R     only rank R does
    python tests/scoring/_score_driver.py [launch/score.py arguments]

Unset or empty: no hook, the plain entry point. The variable lives here, not in production code.
"""

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the support package
from support import load_launch  # noqa: E402

from harness import dist  # noqa: E402

KILL_ENV = "HARNESS_SCORING_KILL_AFTER"


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
    return load_launch("score").main(sys.argv[1:], on_batch=kill_hook(os.environ.get(KILL_ENV, "")))


if __name__ == "__main__":
    raise SystemExit(main())
