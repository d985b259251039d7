"""Entity types for the type constraints, read from the dataset files under the readers' example ids."""

import json
from pathlib import Path

from support import load_launch

from harness.config import DataConfig
from harness.data.dataset import load_splits
from harness.recipes.qa4re.prompts import build_questions, qa_set_for
from harness.recipes.qa4re.types import entity_types

TACRED = Path(__file__).resolve().parents[1] / "data" / "fixtures" / "tacred"


def test_qa4re_tacred_types_constrain_the_options():
    cfg = DataConfig(dataset="tacred", data_dir=str(TACRED))
    types = entity_types(cfg)
    splits = load_splits(cfg)
    assert set(types) >= {ex.id for ex in splits.train + splits.dev + splits.test}
    qs = {q.id: q for q in build_questions(qa_set_for("tacred"), splits.test, types=types)}
    assert qs["crafted-test-01"].options == ("per:city_of_birth", "per:city_of_death", "per:cities_of_residence",
                                             "no_relation")
    assert qs["crafted-test-02"].options == ("per:schools_attended", "per:employee_of", "no_relation")
    assert all(q.gold in q.options for q in qs.values())
    assert entity_types(DataConfig()) is None  # synthetic: no types


def test_qa4re_conll04_types_follow_the_reader_ids(tmp_path):
    rec = {"tokens": ["Smith", "joined", "Acme", "in", "Paris", "."], "orig_id": 7,
           "entities": [{"type": "Peop", "start": 0, "end": 1}, {"type": "Org", "start": 2, "end": 3},
                        {"type": "Loc", "start": 4, "end": 5}],
           "relations": [{"type": "Work_For", "head": 0, "tail": 1}, {"type": "OrgBased_In", "head": 1, "tail": 2}]}
    for split in ("train", "dev", "test"):
        (tmp_path / f"conll04_{split}.json").write_text(json.dumps([rec]))
    cfg = DataConfig(dataset="conll04", data_dir=str(tmp_path))
    types = entity_types(cfg)
    splits = load_splits(cfg)
    qs = build_questions(qa_set_for("conll04"), splits.test, types=types)
    assert [q.options for q in qs] == [("Work_For", "No_Relation"), ("OrgBased_In", "No_Relation")]
    assert types["conll04:test:7:2:0"] == ("Loc", "Peop")


def test_qa4re_launch_eval_uses_the_type_constraints(tmp_path):

    from harness.cli import run_main
    from harness.run import RunDir

    mod = load_launch("qa4re")
    run = RunDir(tmp_path)
    argv = ["eval", "--set", f"run_dir={tmp_path}", "--set", "data.dataset=tacred", "--set", f"data.data_dir={TACRED}"]
    assert run_main(mod.main, argv) == 0
    recs = {json.loads(line)["id"]: json.loads(line) for line in run.qa4re.predictions("test").read_text().splitlines()}
    assert [len(recs[i]["options"]) for i in ("crafted-test-01", "crafted-test-02", "crafted-test-03")] == [4, 3, 7]
    assert json.loads(run.qa4re.metrics("test").read_text())["type_constraints"] is True
