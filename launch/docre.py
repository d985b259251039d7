"""DocRE: a shim for `python -m harness docre ...` (harness/shims.py).

    python launch/docre.py eval --pred P.json --gold G.json [--facts F.fact] [--eps]      (docre docred-score)
    python launch/docre.py prompts | predict | pipeline --config C.json [...]
    python launch/docre.py train-llm --config C.json [--ds ds_configs/zero3.json]         (docre train)
    python launch/docre.py rcp-train | rcp-propose --config rcp.json [...]
    torchrun --nproc_per_node 2 launch/docre.py {train-llm,predict,pipeline,rcp-train} --ds ...
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.cli import run_main  # noqa: E402
from harness.shims import launch  # noqa: E402


def main(argv=None, **hooks) -> int:
    return launch("docre.py", argv, **hooks)


if __name__ == "__main__":
    raise SystemExit(run_main(main))
