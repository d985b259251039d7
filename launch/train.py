"""Train (or export) the large model: a shim for `python -m harness atlantis train | export` (harness/shims.py).

    deepspeed --num_gpus G launch/train.py --ds ds_configs/zero3.json [--config run.json] [--set k=v ...] [--resume]
    torchrun --nnodes N --nproc_per_node G --rdzv_backend c10d --rdzv_endpoint HOST:PORT launch/train.py --ds ...
    python launch/train.py --config run.json                   (one process, plain torch, no DeepSpeed)
    python launch/train.py export --checkpoint RUN/checkpoints [--tag stepN] --out DIR
A run folder holding a training run is refused unless --resume (same settings, checked) or --overwrite.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.cli import run_main  # noqa: E402
from harness.shims import launch  # noqa: E402


def main(argv=None, **hooks) -> int:
    return launch("train.py", argv, **hooks)


if __name__ == "__main__":
    raise SystemExit(run_main(main))
