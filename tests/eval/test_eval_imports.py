"""House rule: harness.eval (and its launch script) pull in neither deepspeed nor triton on import."""

import subprocess
import sys


def test_eval_imports_no_deepspeed_or_triton():
    code = (  # blocked, not looked up afterwards: see tests/test_boundaries.py
        "import importlib, sys\n"
        "sys.modules['deepspeed'] = sys.modules['triton'] = None\n"
        "for m in ['harness.eval', 'harness.eval.rank', 'harness.eval.generate', 'harness.eval.metrics',\n"
        "          'harness.eval.semeval', 'harness.eval.plots', 'harness.eval.compare']:\n"
        "    importlib.import_module(m)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
