"""Generated samples and DPO: a shim for `python -m harness gen generate | pairs | metrics` and
`python -m harness dpo train` (harness/shims.py).

    python launch/gen.py generate --config gen.json --set gen.candidates_per_step=2
    torchrun --nproc_per_node 2 launch/gen.py generate --config gen.json
    python launch/gen.py pairs --run-dir runs/gen
    python launch/gen.py metrics --run-dir runs/gen
    python launch/gen.py dpo --pairs runs/gen/pairs.jsonl [--config run.json] [--set dpo.beta=0.1] [--resume]
    deepspeed --num_gpus 2 launch/gen.py dpo --ds ds_configs/zero3.json --pairs ...       (dpo train)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.cli import run_main  # noqa: E402
from harness.shims import launch  # noqa: E402


def main(argv=None, **hooks) -> int:
    return launch("gen.py", argv, **hooks)


if __name__ == "__main__":
    raise SystemExit(run_main(main))
