"""harness.cli: an input error is one line on stderr and exit status 2; any other error keeps its traceback."""

from pathlib import Path

import pytest
from support import cli

from harness.cli import EXIT_INPUT, InputError, input_errors, run_main
from harness.config import ConfigError
from harness.eval.semeval import ScorerFileError

ROOT = Path(__file__).resolve().parents[1]


def _raise(exc):
    def main(argv):
        raise exc
    return main


def _error_lines(out) -> list[str]:
    assert out.rc == EXIT_INPUT, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    return [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]


def test_run_main_input_error_is_one_line_exit_2(capsys, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    assert run_main(_raise(InputError("data.data_dir='x' lacks files\n  give the folder")), []) == 2
    assert capsys.readouterr().err == "error: data.data_dir='x' lacks files give the folder\n"
    assert run_main(lambda argv: 0, []) == 0


def test_run_main_other_errors_keep_their_traceback():
    with pytest.raises(ValueError, match="shape mismatch"):  # a bug deep in torch: not an input error
        run_main(_raise(ValueError("shape mismatch")), [])
    with pytest.raises(FileNotFoundError):  # outside input_errors(): not an input error either
        run_main(_raise(FileNotFoundError("x")), [])


def test_run_main_prints_on_rank_0_only(capsys, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    assert run_main(_raise(ConfigError("bad")), []) == 2
    assert capsys.readouterr().err == ""


def test_run_main_traceback_env_reraises(monkeypatch):
    monkeypatch.setenv("HARNESS_TRACEBACK", "1")
    with pytest.raises(ConfigError, match="bad"):
        run_main(_raise(ConfigError("bad")), [])


def test_input_errors_converts_reader_errors_inside_the_block(tmp_path):
    with pytest.raises(InputError, match="x.jsonl:3: bad") as info, input_errors():
        raise ValueError("x.jsonl:3: bad")
    assert type(info.value.__cause__) is ValueError
    with pytest.raises(InputError, match="No such file"), input_errors():
        (tmp_path / "absent.json").read_text()
    with pytest.raises(KeyError), input_errors():  # not a reader's message: left alone
        raise KeyError("k")


def test_harness_check_errors_are_input_errors():
    assert issubclass(ConfigError, InputError) and issubclass(ScorerFileError, InputError)
    assert issubclass(InputError, ValueError)  # `except ValueError` around the checks keeps working


def test_eval_run_model_folder_checked_before_loading(tmp_path):
    from harness.recipes.atlantis import commands as atlantis

    with pytest.raises(InputError, match="the folder is empty"):
        atlantis.check_model_dir(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(InputError, match="no tokenizer"):
        atlantis.check_model_dir(str(tmp_path))
    out = cli("launch/eval.py", "run", "--model", "/nonexistent/export")
    assert _error_lines(out) == ["error: --model /nonexistent/export: no such folder; " + atlantis.EXPORT_HINT]


@pytest.mark.parametrize("entry", [["launch/eval.py", "run", "--model", "/nonexistent"], ["launch/score.py"]])
def test_entry_point_misspelled_set_field_did_you_mean(entry):
    out = cli(*entry, "--set", "train.lrr=1")
    assert _error_lines(out) == ["error: --set train.lrr: unknown field 'lrr' in TrainConfig; did you mean train.lr?"]


def test_cli_usage_error_is_one_line_naming_the_flag():
    out = cli("-m", "harness", "atlantis", "train", "--resume", "--overwrite", in_process=True)
    assert out.rc == EXIT_INPUT and out.error_lines() == [
        "error: python -m harness atlantis train: argument --overwrite: not allowed with argument --resume; "
        "see python -m harness atlantis train --help"]
    out = cli("-m", "harness", "atlantis", "evaluate", in_process=True)
    assert out.rc == EXIT_INPUT and "invalid choice: 'evaluate'" in out.error_lines()[0]


def test_cli_help_lists_recipes_and_commands():
    out = cli("-m", "harness", "--help", in_process=True)
    assert out.rc == 0
    for line in ["  atlantis", "      semeval-score", "  docre", "      docred-score", "  dpo", "      train"]:
        assert line in out.stdout
    out = cli("-m", "harness", "gen", "--help", in_process=True)
    assert out.rc == 0 and all(c in out.stdout for c in ("generate", "pairs", "metrics"))


def _flags(recipe: str, command: str) -> set[str]:
    import argparse

    from harness.cli import parser

    def sub(p: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
        return next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices[name]

    return set(sub(sub(parser(recipe), recipe), command)._option_string_actions)


def test_cli_shared_flags_spelled_once():
    """--run-dir names the run folder on every command that has one (every command with a config, and gen's pairs and
    metrics); --resume | --overwrite together wherever one is; --ds only with a config; --dist-timeout wherever a
    command runs DeepSpeed. No old spelling is left."""
    from harness.recipes import RECIPES, commands

    for recipe in RECIPES:
        for c in commands(recipe):
            flags = _flags(recipe, c.name)
            if c.config or recipe == "gen":
                assert "--run-dir" in flags, (recipe, c.name)
            assert ("--resume" in flags) == ("--overwrite" in flags), (recipe, c.name)
            assert "--ds" not in flags or c.config, (recipe, c.name)
            assert "--ds" not in flags or "--dist-timeout" in flags or c.name == "experiment", (recipe, c.name)
            assert not flags & {"--root", "--fresh", "--checkpoint", "--local_rank"}, (recipe, c.name)
