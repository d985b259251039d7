"""House rule: harness.eval (and its launch script) pull in neither deepspeed nor triton on import."""

import subprocess
import sys


def test_eval_imports_no_deepspeed_or_triton():
    code = (
        "import importlib, sys\n"
        "for m in ['harness.eval', 'harness.eval.rank', 'harness.eval.generate', 'harness.eval.metrics',\n"
        "          'harness.eval.semeval', 'harness.eval.plots', 'harness.eval.compare']:\n"
        "    importlib.import_module(m)\n"
        "print(','.join(m for m in ('deepspeed', 'triton') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported: {out.stdout.strip()}"
