"""Test driver run under torchrun: launch/gen.py dpo's ``main`` with every rank SIGKILLing itself after step
``--kill-after N`` (kill -9 mid-run); the other arguments go to launch/gen.py dpo unchanged."""

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the support package
from support import load_launch  # noqa: E402


def main() -> int:
    argv = sys.argv[1:]
    after = 0
    if "--kill-after" in argv:
        k = argv.index("--kill-after")
        after = int(argv[k + 1])
        del argv[k:k + 2]
    mod = load_launch("gen")

    def hook(rec):
        if after and rec["step"] == after:
            os.kill(os.getpid(), signal.SIGKILL)

    return mod.main(argv, on_step=hook)  # argv starts with the subcommand (dpo)


if __name__ == "__main__":
    raise SystemExit(main())
