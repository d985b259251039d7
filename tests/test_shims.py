"""Every entry point parses where the launchers put their arguments: ``--local_rank=N`` / ``--local_rank N`` right
after the script name (the DeepSpeed launcher), for each launch/*.py shim and for ``python -m harness``; the old
spellings of the shims map onto the one grammar (harness/shims.py)."""

import os

import pytest
from support import cli

from harness.cli import parse, strip_local_rank
from harness.recipes import RECIPES, commands
from harness.shims import translate

# the smallest valid arguments of every command of the one grammar
NEW = {
    ("atlantis", "score"): [], ("atlantis", "train"): [], ("atlantis", "export"): ["--run-dir", "r"],
    ("atlantis", "eval"): ["--model", "m"], ("atlantis", "compare"): ["--run-dir", "a", "--run-dir", "b"],
    ("atlantis", "curves"): ["--run-dir", "a", "--out", "c.png"], ("atlantis", "weights"): ["--out-dir", "p"],
    ("atlantis", "semeval-score"): ["--key", "k", "--pred", "p"], ("atlantis", "experiment"): [],
    ("qa4re", "eval"): [], ("qa4re", "label"): [],
    ("gen", "generate"): [], ("gen", "pairs"): ["--run-dir", "r"], ("gen", "metrics"): ["--run-dir", "r"],
    ("dpo", "train"): [],
    ("docre", "prompts"): [], ("docre", "train"): [], ("docre", "predict"): [], ("docre", "pipeline"): [],
    ("docre", "rcp-train"): [], ("docre", "rcp-propose"): [], ("docre", "docred-score"): ["--pred", "p", "--gold", "g"],
    ("tables", "list"): [], ("tables", "run"): ["all", "--smoke"],
}
NEVER_LAUNCHED = {("tables", "list"), ("tables", "run")}  # commands born after the launch scripts: no old spelling
# every command of every launch script (the 22 of the old grammar) and the command it is now
OLD = [
    ("train.py", [], "atlantis train"), ("train.py", ["export", "--checkpoint", "c"], "atlantis export"),
    ("score.py", [], "atlantis score"),
    ("eval.py", ["run", "--model", "m"], "atlantis eval"), ("eval.py", ["score", "--key", "k", "--pred", "p"],
                                                             "atlantis semeval-score"),
    ("eval.py", ["compare", "a", "b"], "atlantis compare"), ("eval.py", ["curves", "a", "--out", "c.png"],
                                                             "atlantis curves"),
    ("eval.py", ["weights", "--out-dir", "p"], "atlantis weights"),
    ("experiment.py", ["--root", "r", "--fresh"], "atlantis experiment"),
    ("qa4re.py", ["eval"], "qa4re eval"), ("qa4re.py", ["label"], "qa4re label"),
    ("gen.py", ["generate"], "gen generate"), ("gen.py", ["pairs", "--run-dir", "r"], "gen pairs"),
    ("gen.py", ["metrics", "--run-dir", "r"], "gen metrics"), ("gen.py", ["dpo", "--pairs", "p"], "dpo train"),
    ("docre.py", ["eval", "--pred", "p", "--gold", "g"], "docre docred-score"), ("docre.py", ["prompts"], "docre prompts"),
    ("docre.py", ["train-llm"], "docre train"), ("docre.py", ["predict"], "docre predict"),
    ("docre.py", ["pipeline"], "docre pipeline"), ("docre.py", ["rcp-train"], "docre rcp-train"),
    ("docre.py", ["rcp-propose"], "docre rcp-propose"),
]


def test_shims_every_command_has_a_sample():
    assert sorted(NEW) == sorted((r, c.name) for r in RECIPES for c in commands(r))
    assert len(OLD) == 22 and sorted({new for _, _, new in OLD}) == sorted(f"{r} {c}" for r, c in set(NEW) -
                                                                            NEVER_LAUNCHED)


@pytest.mark.parametrize("form", [["--local_rank=0"], ["--local_rank", "0"], ["--local-rank=0"]])
@pytest.mark.parametrize("recipe, command", sorted(NEW))
def test_shims_python_m_harness_accepts_local_rank(recipe, command, form, monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    args = parse([*form, recipe, command, *NEW[recipe, command]])
    assert (args.recipe, args.command.name) == (recipe, command) and os.environ["LOCAL_RANK"] == "0"


@pytest.mark.parametrize("script, argv, new", OLD)
def test_shims_every_launch_script_accepts_local_rank(script, argv, new, monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    args = parse(translate(script, ["--local_rank=1", *argv]))
    assert f"{args.recipe} {args.command.name}" == new and os.environ["LOCAL_RANK"] == "1"


def test_shims_old_spellings_map_onto_the_new_flags():
    assert parse(translate("eval.py", ["compare", "a", "b"])).run_dirs == ["a", "b"]
    curves = parse(translate("eval.py", ["curves", "a", "--split", "test", "b", "--out", "c.png"]))
    assert (curves.run_dirs, curves.split, curves.out) == (["a", "b"], "test", "c.png")
    exp = parse(translate("experiment.py", ["--root=r", "--fresh", "--nproc", "1"]))
    assert (exp.run_dir, exp.overwrite, exp.nproc) == ("r", True, 1)
    assert parse(translate("train.py", ["export", "--checkpoint", "r/checkpoints"])).checkpoints == "r/checkpoints"
    assert parse(translate("gen.py", ["dpo", "--pairs", "p", "--resume"])).resume
    # --run-dir is --set run_dir=, applied after the --set flags
    assert parse(["atlantis", "train", "--set", "run_dir=x", "--run-dir", "y"]).set == ["run_dir=x", "run_dir=y"]


def test_shims_strip_local_rank_wherever_it_stands(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "3")  # torchrun's variable wins over a flag
    assert strip_local_rank(["gen", "--local_rank", "5", "generate"]) == ["gen", "generate"]
    assert os.environ["LOCAL_RANK"] == "3"


@pytest.mark.parametrize("entry", [["launch/gen.py", "--local_rank=0", "dpo"],
                                   ["-m", "harness", "--local_rank=0", "dpo", "train"]])
def test_shims_deepspeed_launcher_form_runs(entry):
    """``deepspeed launch/gen.py dpo ...`` once failed with "unrecognized arguments: --local_rank=0": now the
    command runs (and stops at the first input error, the misspelled field)."""
    out = cli(*entry, "--set", "dpo.betaa=0.1")
    assert out.rc == 2 and out.error_lines() == ["error: --set dpo.betaa: unknown field 'betaa' in DPOConfig; did "
                                                 "you mean dpo.beta?"], out.stderr
