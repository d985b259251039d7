"""harness.cli: an input error is one line on stderr and exit status 2; any other error keeps its traceback."""

import subprocess
import sys
from pathlib import Path

import pytest
from support import load_launch

from harness.cli import EXIT_INPUT, InputError, input_errors, run_main
from harness.config import ConfigError
from harness.eval.semeval import ScorerFileError

ROOT = Path(__file__).resolve().parents[1]


def _raise(exc):
    def main(argv):
        raise exc
    return main


def _entry(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def _error_lines(out: subprocess.CompletedProcess) -> list[str]:
    assert out.returncode == EXIT_INPUT, out.stderr
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
    cli = load_launch("eval")
    with pytest.raises(InputError, match="the folder is empty"):
        cli.check_model_dir(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(InputError, match="no tokenizer"):
        cli.check_model_dir(str(tmp_path))
    out = _entry("launch/eval.py", "run", "--model", "/nonexistent/export")
    assert _error_lines(out) == ["error: --model /nonexistent/export: no such folder; " + cli.EXPORT_HINT]


@pytest.mark.parametrize("entry", [["launch/eval.py", "run", "--model", "/nonexistent"], ["launch/score.py"]])
def test_entry_point_misspelled_set_field_did_you_mean(entry):
    out = _entry(*entry, "--set", "train.lrr=1")
    assert _error_lines(out) == ["error: --set train.lrr: unknown field 'lrr' in TrainConfig; did you mean train.lr?"]
