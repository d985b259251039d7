"""House rule: importing harness' non-train, non-kernel packages pulls in neither deepspeed nor triton."""

import subprocess
import sys

MODULES = [
    "harness", "harness.config", "harness.log", "harness.dist", "harness.constants",
    "harness.data.examples", "harness.data.labels", "harness.data.prompts", "harness.data.tokenize",
    "harness.models.load", "harness.models.tokenizer", "harness.models.label_rows", "harness.manifest",
    "harness.data.dataset", "harness.data.noise", "harness.data.synthetic", "harness.data.markers",
    "harness.data.readers.semeval", "harness.data.readers.conll04", "harness.data.readers.jsonl",
    "harness.kernels", "harness.kernels.normalize", "harness.eval", "harness.scoring.weights",
    "harness.scoring.score", "harness.train.dsconfig", "harness.train.data",
]


def test_boundaries_no_deepspeed_or_triton_on_import():
    code = (
        "import importlib, sys\n"
        f"for m in {MODULES!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = [m for m in ('deepspeed', 'triton') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported: {out.stdout.strip()}"
