"""Test driver run under torchrun: launch/gen.py dpo's ``main`` with every rank SIGKILLing itself after step
``--kill-after N`` (kill -9 mid-run); the other arguments go to launch/gen.py dpo unchanged."""

import importlib.util
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    argv = sys.argv[1:]
    after = 0
    if "--kill-after" in argv:
        k = argv.index("--kill-after")
        after = int(argv[k + 1])
        del argv[k:k + 2]
    spec = importlib.util.spec_from_file_location("launch_gen", ROOT / "launch" / "gen.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def hook(rec):
        if after and rec["step"] == after:
            os.kill(os.getpid(), signal.SIGKILL)

    return mod.main(argv, on_step=hook)  # argv starts with the subcommand (dpo)


if __name__ == "__main__":
    raise SystemExit(main())
