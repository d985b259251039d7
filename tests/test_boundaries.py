"""House rule: importing harness' non-train, non-kernel packages pulls in neither deepspeed nor triton."""

import subprocess
import sys

MODULES = [
    "harness", "harness.config", "harness.log", "harness.dist", "harness.constants",
    "harness.data.examples", "harness.data.labels", "harness.data.prompts", "harness.data.tokenize",
    "harness.models.load", "harness.models.tokenizer", "harness.models.label_rows", "harness.manifest",
    "harness.data.dataset", "harness.data.noise", "harness.data.synthetic", "harness.data.markers",
    "harness.data.readers.semeval", "harness.data.readers.conll04", "harness.data.readers.jsonl",
    "harness.kernels", "harness.eval", "harness.recipes.atlantis.scoring.weights",
    "harness.recipes.atlantis.scoring.score", "harness.train.dsconfig", "harness.train.data", "harness.train.normaliser",
    "harness.train.metrics", "harness.train.plan", "harness.run", "harness.data.registry",
    "harness.data.readers.tacred", "harness.cli", "harness.runstate",
    "harness.recipes.qa4re", "harness.recipes.qa4re.template_data", "harness.recipes.qa4re.prompts", "harness.recipes.qa4re.score",
    "harness.recipes.qa4re.metrics", "harness.recipes.qa4re.stage", "harness.shims", "harness.recipes.atlantis.experiment", "harness.recipes",
    "harness.recipes.atlantis.commands", "harness.recipes.qa4re.commands", "harness.recipes.gen.commands",
    "harness.recipes.dpo.commands", "harness.recipes.docre.commands",
]


BLOCK = "import sys\nsys.modules['deepspeed'] = sys.modules['triton'] = None  # any import of them fails\n"


def test_boundaries_no_deepspeed_or_triton_on_import():
    # blocked rather than looked up in sys.modules afterwards: torch 2.11's dynamo (imported by transformers 5.17,
    # the GPU image's versions) imports an installed triton on its own, which is not the harness's doing
    code = (
        BLOCK +
        "import importlib\n"
        f"for m in {MODULES!r}:\n"
        "    importlib.import_module(m)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]


def test_heavy_imports_live_in_one_place():
    """deepspeed only in harness/train/deepspeed_api.py, triton only in harness/kernels/, torch.distributed only in
    harness/dist.py (static scan of the source, comments and docstrings included)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "harness"
    rules = [(re.compile(r"^\s*(import|from)\s+deepspeed\b", re.M), lambda p: p == "train/deepspeed_api.py"),
             (re.compile(r"^\s*(import|from)\s+triton\b", re.M), lambda p: p.startswith("kernels/")),
             (re.compile(r"torch\.distributed|from\s+torch\s+import\s+distributed"), lambda p: p == "dist.py")]
    bad = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        text = path.read_text()
        bad += [f"{rel}: {rx.pattern}" for rx, allowed in rules if rx.search(text) and not allowed(rel)]
    assert not bad, bad


def test_boundaries_cli_help_imports_nothing_heavy():
    """``python -m harness --help`` and every recipe's help parse the whole grammar with torch, numpy, transformers,
    deepspeed and triton blocked: the command bodies import them only when they run."""
    heavy = ["torch", "numpy", "transformers", "deepspeed", "triton"]
    code = (
        "import runpy, sys\n"
        f"for m in {heavy!r}:\n"
        "    sys.modules[m] = None\n"
        "from harness.recipes import RECIPES\n"
        "for argv in [['--help']] + [[r, '--help'] for r in RECIPES]:\n"
        "    sys.argv = ['harness', *argv]\n"
        "    try:\n"
        "        runpy.run_module('harness', run_name='__main__')\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, (argv, e.code)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    for name in ["atlantis", "qa4re", "gen", "dpo", "docre", "semeval-score", "docred-score", "rcp-propose"]:
        assert name in out.stdout
