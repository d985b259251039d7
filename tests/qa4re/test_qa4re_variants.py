"""qa4re eval's variants: --subset reference (the reference's 1,000 test / 250 dev subsets), --prompting vanilla,
Re-TACRED's templates through --set data.label_space=retacred (TACRED-format files)."""

import json

import pandas as pd
import pytest
from support import load_launch

from harness.cli import run_main
from harness.data.dataset import read_splits
from harness.recipes.qa4re.stage import REFERENCE_SUBSET, subset_examples
from harness.run import RunDir

SETS = ["--set", "data.synthetic_size=24", "--set", "data.noise_rate=0", "--batch-examples", "4"]


@pytest.mark.parametrize("split,n", [("test", 2717), ("dev", 800), ("test", 600)])
def test_qa4re_reference_subset_is_pandas_sample_with_seed_42(split, n):
    items = [f"ex{i}" for i in range(n)]
    want = pd.DataFrame({"id": items}).sample(n=min(REFERENCE_SUBSET[split], n), random_state=42)["id"].tolist()
    got = subset_examples(items, split, "reference")
    assert got == want and len(got) == min({"test": 1000, "dev": 250}[split], n)
    assert subset_examples(items, split, "full") is items
    with pytest.raises(ValueError, match="splits"):
        subset_examples(items, "train", "reference")


def test_qa4re_eval_subset_and_vanilla_prompting(tmp_path):
    mod = load_launch("qa4re")
    run = RunDir(tmp_path / "run")
    base = ["eval", "--split", "test", "--set", f"run_dir={run.root}", *SETS]
    assert run_main(mod.main, [*base, "--subset", "reference"]) == 0
    recs = [json.loads(line) for line in run.qa4re.predictions("test").read_text().splitlines()]
    metrics = json.loads(run.qa4re.metrics("test").read_text())
    assert metrics["subset"] == "reference" and metrics["prompting"] == "qa4re" and metrics["scoring"] == "first-token"
    test = read_splits(run.data).test
    assert [r["id"] for r in recs] == [e.id for e in subset_examples(test, "test", "reference")]

    assert run_main(mod.main, [*base, "--prompting", "vanilla"]) == 0
    recs = [json.loads(line) for line in run.qa4re.predictions("test").read_text().splitlines()]
    metrics = json.loads(run.qa4re.metrics("test").read_text())
    assert metrics["prompting"] == "vanilla" and metrics["scoring"] == "greedy" and metrics["subset"] == "full"
    for r in recs:
        assert [o["letter"] for o in r["options"]] == [o["label"] for o in r["options"]]  # the answer is the name
        assert r["options"][-1]["label"] == "No_Relation" and r["prediction_letter"] == r["prediction"]
    assert metrics["accuracy"] == sum(r["prediction"] == r["gold"] for r in recs) / len(recs)


def retacred_record(i, relation, subj_type, obj_type):
    return {"id": f"rt-{i}", "token": ["Kercher", "said", "she", "left", "Ohio", "."], "subj_start": 0, "subj_end": 0,
            "obj_start": 2 if obj_type == "PERSON" else 4, "obj_end": 2 if obj_type == "PERSON" else 4,
            "subj_type": subj_type, "obj_type": obj_type, "relation": relation}


def test_qa4re_retacred_label_space_selects_its_templates(tmp_path, capsys):
    data = tmp_path / "retacred"
    data.mkdir()
    for split in ("train", "dev", "test"):
        recs = [retacred_record(f"{split}{0}", "per:identity", "PERSON", "PERSON"),
                retacred_record(f"{split}{1}", "per:stateorprovinces_of_residence", "PERSON", "STATE_OR_PROVINCE")]
        (data / f"{split}.json").write_text(json.dumps(recs))
    mod = load_launch("qa4re")
    run = RunDir(tmp_path / "run")
    def argv(run_dir, data_dir):
        return ["eval", "--set", f"run_dir={run_dir}", "--set", "data.dataset=tacred", "--set",
                f"data.data_dir={data_dir}", "--set", "data.label_space=retacred"]

    assert run_main(mod.main, argv(run.root, data)) == 0
    recs = {json.loads(line)["id"]: json.loads(line) for line in run.qa4re.predictions("test").read_text().splitlines()}
    assert [o["label"] for o in recs["rt-test0"]["options"]] == [
        "per:identity", "per:identity", "per:children", "per:spouse", "per:siblings", "per:other_family",
        "per:parents", "no_relation"]
    assert len(recs["rt-test1"]["options"]) == 9  # PERSON:STATE_OR_PROVINCE: 8 relations + NoTA
    metrics = json.loads(run.qa4re.metrics("test").read_text())
    assert metrics["qa_set"] == "retacred" and metrics["label_space"] == "retacred"
    bad = tmp_path / "bad"
    bad.mkdir()
    for split in ("train", "dev", "test"):  # a TACRED-only label is not Re-TACRED's
        (bad / f"{split}.json").write_text(json.dumps([retacred_record(f"{split}0", "org:parents", "PERSON", "CITY")]))
    assert run_main(mod.main, argv(tmp_path / "r2", bad)) == 2
    assert "not in label space retacred" in capsys.readouterr().err
