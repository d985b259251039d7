"""QA4RE: a shim for `python -m harness qa4re eval | label` (harness/shims.py).

    python launch/qa4re.py eval --config run.json [--model DIR_OR_PRESET] [--split test] [--scoring sequence]
    python launch/qa4re.py label --config run.json [--model ...] [--out weak_labels.jsonl]
    torchrun --nproc_per_node 2 launch/qa4re.py ...
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.cli import run_main  # noqa: E402
from harness.shims import launch  # noqa: E402


def main(argv=None, **hooks) -> int:
    return launch("qa4re.py", argv, **hooks)


if __name__ == "__main__":
    raise SystemExit(run_main(main))
