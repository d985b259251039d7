"""Run by tests/test_dist.py under torchrun (2 ranks) with HARNESS_DIST_BACKEND=cuda:gloo (the NCCL twin):
``dist.init(timeout_s=T)``, one barrier on time (creates the host group), then rank 1 stays away from the next
barrier for LATE seconds, or until rank 0 has written its record. Rank 0 records whether its barrier failed and
how long it waited: bounded by T, it fails after ~T s; unbounded, it waits the LATE seconds and succeeds."""

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import dist  # noqa: E402


def main(out_dir: str, timeout_s: float, late_s: float) -> None:
    info = dist.init(timeout_s=timeout_s)
    dist.barrier()  # on time: the host group exists from here on
    mine = Path(out_dir, f"rank{info.rank}.json")
    if info.rank == 0:
        t0, err = time.monotonic(), ""
        try:
            dist.barrier()
        except RuntimeError as e:  # gloo's timeout (or a peer gone)
            err = str(e).splitlines()[0]
        mine.write_text(json.dumps({"error": err, "waited_s": round(time.monotonic() - t0, 2)}))
    else:
        end = time.monotonic() + late_s
        while time.monotonic() < end and not Path(out_dir, "rank0.json").exists():
            time.sleep(0.1)
        if not Path(out_dir, "rank0.json").exists():
            dist.barrier()  # late, but rank 0 is still waiting: the unbounded case
        mine.write_text(json.dumps({"late_s": late_s}))
    os._exit(0)  # no teardown: a group whose barrier timed out cannot be destroyed cleanly


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]))
