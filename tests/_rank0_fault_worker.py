"""Run by tests/test_rank0_faults.py as two plain processes (RANK 0 and 1, no launcher: a launcher would kill the
other rank as soon as one fails, which hides the fault), under the NCCL twin (HARNESS_DIST_BACKEND=cuda:gloo).

    python tests/_rank0_fault_worker.py OUT_DIR MODULE:ATTR ENTRY [entry arguments]

On rank 0, ``MODULE:ATTR`` is replaced by a function raising ``OSError("injected rank-0 failure")``; then the
entry point (``launch/score.py`` or ``launch/gen.py``) runs. Each rank writes ``rank<r>.json``: the exception it
ended with and after how many seconds. Rank 0 then stays alive until rank 1 has ended (as a failed rank's peers
see nothing under NCCL until the timeout), so rank 1 ends only through the harness's own handling."""

import importlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from support import load_script  # noqa: E402


def inject(target: str) -> None:
    mod_name, attr = target.split(":")

    def fail(*_a, **_k):
        raise OSError("injected rank-0 failure")

    setattr(importlib.import_module(mod_name), attr, fail)


def main(out_dir: str, target: str, entry: str, argv: list[str]) -> None:
    t0, rank = time.monotonic(), int(os.environ["RANK"])  # both clocks start before the imports
    if rank == 0:
        inject(target)
    mod = load_script(ROOT / entry, "entry")
    err = ""
    try:
        mod.main(argv)
    except Exception as e:  # recorded for the test, whatever it is
        err = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    rec = {"error": err, "after_s": round(time.monotonic() - t0, 2)}
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(rec))
    if rank == 0:
        end = time.monotonic() + float(os.environ["HARNESS_DIST_TIMEOUT_S"]) + 60
        while time.monotonic() < end and not Path(out_dir, "rank1.json").exists():
            time.sleep(0.2)
    os._exit(0)  # no teardown: the group is broken on purpose


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
