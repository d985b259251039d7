"""The run folder's owner: path layout, and atomic writes that leave the old version intact when a writer fails."""

import json

import numpy as np
import pytest

from harness.run import (
    RunDir,
    WeightsFiles,
    atomic_write,
    atomic_write_dir,
    atomic_write_json,
    atomic_write_text,
)


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def test_run_dir_layout_is_path_arithmetic(tmp_path):
    run = RunDir(tmp_path / "r", scores_subdir="scores_b")
    assert run.scores == tmp_path / "r" / "scores_b"
    assert run.weights == tmp_path / "r" / "weights" / "weights.f32"
    assert run.weights_manifest == run.weights_files.manifest == tmp_path / "r" / "weights" / "weights.json"
    assert run.weights_stats == tmp_path / "r" / "weights" / "weights_stats.json"
    assert run.eval_json == tmp_path / "r" / "eval.json" and run.examples("dev") == tmp_path / "r" / "data" / "dev.jsonl"
    assert WeightsFiles.beside(tmp_path / "x" / "w.f32").manifest == tmp_path / "x" / "weights.json"
    assert not (tmp_path / "r").exists()  # nothing is created


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    path = tmp_path / "sub" / "a.json"
    atomic_write_json(path, {"b": 1, "a": [1.5]})
    assert path.read_text() == '{\n  "a": [\n    1.5\n  ],\n  "b": 1\n}\n'
    atomic_write_text(path, "new\n")
    assert path.read_text() == "new\n"
    atomic_write(tmp_path / "w.f32", np.arange(3, dtype=np.float32).tofile)
    assert np.fromfile(tmp_path / "w.f32", dtype=np.float32).tolist() == [0.0, 1.0, 2.0]
    assert _leftovers(tmp_path) == [] and _leftovers(path.parent) == []


def test_atomic_write_failing_writer_keeps_old_file(tmp_path):
    path = tmp_path / "a.json"
    atomic_write_json(path, {"v": 1})

    def half_then_fail(tmp):
        tmp.write_text('{"v": 2, "trunc')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half_then_fail)
    assert json.loads(path.read_text()) == {"v": 1}
    assert _leftovers(tmp_path) == []
    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path / "never.json", half_then_fail)
    assert not (tmp_path / "never.json").exists() and _leftovers(tmp_path) == []


def test_atomic_write_dir_replaces_whole_folder(tmp_path):
    path = tmp_path / "tok"

    def fill(files):
        def write(tmp):
            for name, text in files.items():
                (tmp / name).write_text(text)
        return write

    atomic_write_dir(path, fill({"a.txt": "1", "old.txt": "x"}))
    atomic_write_dir(path, fill({"a.txt": "2"}))
    assert sorted(p.name for p in path.iterdir()) == ["a.txt"] and (path / "a.txt").read_text() == "2"

    def fail(tmp):
        (tmp / "a.txt").write_text("3")
        raise RuntimeError("save_pretrained failed")

    with pytest.raises(RuntimeError, match="save_pretrained failed"):
        atomic_write_dir(path, fail)
    assert (path / "a.txt").read_text() == "2" and _leftovers(tmp_path) == []
