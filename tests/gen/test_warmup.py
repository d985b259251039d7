"""The generator warm-up (harness.recipes.gen.warmup): its examples are generation prompts + gold lines that parse back to
the gold example (a round trip through harness.recipes.gen.parse), and the stage trains, exports, resumes and refuses."""

import json
from pathlib import Path

from support import load_launch

from harness.cli import run_main
from harness.config import DataConfig
from harness.data.dataset import load_splits
from harness.data.examples import Example
from harness.recipes.gen.config import GenConfig
from harness.recipes.gen.files import GenFiles
from harness.recipes.gen.generate import gold_order
from harness.recipes.gen.parse import parse_sample, to_example
from harness.recipes.gen.prompt import Sample, from_example, render
from harness.recipes.gen.warmup import answer_text, demo_counts, relation_examples, warmup_examples

ROOT = Path(__file__).resolve().parents[2]


def gold(i: int, label: str = "Lives_In") -> Example:
    head, tail = f"Person{i}", f"Town{i}"
    text = f"<e1>{head}</e1> lives in <e2>{tail}</e2>."
    hs, ts = text.index("<e1>") + 4, text.index("<e2>") + 4
    return Example(id=f"g{i}", text=text, head=head, tail=tail, head_span=(hs, hs + len(head)),
                   tail_span=(ts, ts + len(tail)), label=label, split="train")


GOLDEN_ANSWER = " Alice Moreau | tail: Lisbon | sentence: Alice Moreau lives in Lisbon."


def test_answer_golden_string_parses_back():
    s = Sample("Alice Moreau", "Lisbon", "Alice Moreau lives in Lisbon.")
    assert answer_text(s) == GOLDEN_ANSWER
    assert parse_sample(GOLDEN_ANSWER) == (s, "")
    prompt = render("Lives_In", [], "one-by-one")
    assert (prompt + GOLDEN_ANSWER).endswith("head: Alice Moreau | tail: Lisbon | sentence: Alice Moreau lives in "
                                             "Lisbon.")


def test_warmup_examples_round_trip_to_gold_and_prompts_as_generation_renders():
    train = [gold(i) for i in range(5)] + [gold(9, "Works_For")]
    g = GenConfig(seed_gold=1, window=3, warmup_per_relation=4)
    exs = relation_examples("Lives_In", 0, train, g)
    order = gold_order(train, "Lives_In", g.seed, 0)
    assert len(exs) == 4 and demo_counts(g) == [1, 2, 3]
    for a, ex in enumerate(exs):
        sample, reason = parse_sample(ex.label)  # the answer parses back to the gold example
        assert reason == "" and sample == from_example(order[a])
        back = to_example(sample, order[a].id, "Lives_In")
        assert (back.text, back.head, back.tail) == (order[a].text, order[a].head, order[a].tail)
        demos = [from_example(order[(a + 1 + d) % 5]) for d in range(demo_counts(g)[a % 3])]
        assert ex.text == render("Lives_In", demos, "one-by-one")  # exactly generation's prompt
        assert sample not in demos  # never its own demonstration
    assert [e.text.count("\nhead: ") for e in exs] == [1, 2, 3, 1]  # demonstration counts cycle
    one = relation_examples("Works_For", 1, train, g)  # a single gold example: no demonstrations
    assert len(one) == 1 and "Demonstrations" not in one[0].text and one[0].text.endswith("Write a new sample.\nhead:")
    batch = warmup_examples(["Lives_In"], train, GenConfig(mode="batch", seed_gold=2, warmup_per_relation=0))
    assert len(batch) == 5 and all(e.text.count("\nhead: ") == 2 for e in batch)


def test_warmup_examples_on_the_synthetic_set_all_round_trip():
    splits = load_splits(DataConfig(synthetic_size=64))
    labels = list(splits.label_space.labels)
    exs = warmup_examples(labels, splits.train, GenConfig(warmup_per_relation=0))
    assert len(exs) == len(splits.train)
    by_text = {from_example(ex) for ex in splits.train}
    assert all(parse_sample(ex.label)[0] in by_text for ex in exs)


SETS = ["data.synthetic_size=24", "gen.relations=Works_For,Lives_In", "gen.samples_per_relation=1",
        "gen.candidates_per_step=2", "gen.max_steps=1", "gen.max_new_tokens=8", "gen.seed_gold=1",
        "gen.gold_per_relation=1", "gen.warmup_epochs=2", "gen.warmup_lr=1e-3", "gen.warmup_per_relation=2", "gen.warmup_micro_batch=1"]


def gen_args(run_dir, *extra):
    out = ["generate", "--set", f"run_dir={run_dir}"]
    for s in [*SETS, *extra]:
        out += ["--set", s]
    return out


def test_warmup_stage_trains_exports_generates_and_refuses(tmp_path, capsys):
    mod = load_launch("gen")
    assert run_main(mod.main, gen_args(tmp_path)) == 0
    warm = GenFiles(tmp_path).warmup
    steps = [json.loads(line)["step"] for line in (warm / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]  # 2 + 1 examples (Lives_In has one gold example), 2 epochs
    assert (warm / "export" / "config.json").is_file()
    weights = (warm / "export" / "model.safetensors").read_bytes()
    man = json.loads(GenFiles(tmp_path).manifest.read_text())
    assert man["generator"]["spec"] == str(warm / "export")
    before = GenFiles(tmp_path).candidates.read_text()
    assert run_main(mod.main, gen_args(tmp_path)) == 0  # a finished warm-up is reused: same candidates
    assert GenFiles(tmp_path).candidates.read_text() == before
    assert "reusing" in capsys.readouterr().out
    import shutil

    shutil.rmtree(warm / "export")  # stopped after the last checkpoint, before the export: resumes, then exports
    assert run_main(mod.main, gen_args(tmp_path)) == 0
    assert "nothing left to train" in capsys.readouterr().out
    assert (warm / "export" / "model.safetensors").read_bytes() == weights
    assert GenFiles(tmp_path).candidates.read_text() == before
    assert run_main(mod.main, gen_args(tmp_path, "gen.warmup_lr=2e-3")) == 2
    assert "gen.warmup_lr: 0.001 there, 0.002 now" in capsys.readouterr().err
    assert run_main(mod.main, gen_args(tmp_path / "b", "gen.warmup_micro_batch=0")) == 2
    assert "gen.warmup_micro_batch=0" in capsys.readouterr().err
