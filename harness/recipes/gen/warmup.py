"""Generator warm-up (``gen.warmup_epochs > 0``): supervised fine-tuning of the generator on gold generation lines
before it generates, with the harness's own Trainer. Off by default (a real instruction-tuned checkpoint follows the
prompt as it is); the embedded default turns it on, since a random-initialised tiny generator writes nothing the
parser accepts.

Training examples, per generated relation (the labels of ``harness.recipes.gen.generate.relation_labels``), built from the
relation's gold training examples in ``gold_order`` (the order generation draws its seeds from):
- answers: the first ``gen.warmup_per_relation`` of them (0 = all); the answer text is the example's line in the
  generator's output format without the prompt's ``head:`` (`` H | tail: T | sentence: S``), i.e. exactly what a
  completion the parser accepts holds before its newline; the canonical tokenisation adds EOS, where
  ``sample_completions`` cuts a completion.
- prompt: ``harness.recipes.gen.prompt.render`` of the relation in ``gen.mode`` with demonstrations = other gold examples
  of the relation: the ones following the answer's in the (cyclic) order, never the answer itself. Their number
  cycles over the counts generation's prompts have: one-by-one ``gen.seed_gold`` .. ``gen.window`` (the window
  fills as samples arrive), batch ``gen.seed_gold``; fewer when the relation has fewer other gold examples.
- ``gen.warmup_prompts`` prompts per answer: prompt r takes its demonstrations from position ``r x count`` on in
  that order (cyclic; r = 0: the answer's successors) and the count next in the cycle, so an answer is seen under
  several demonstration sets and the generator learns to write a relation's line whatever the window holds, not
  one answer per prompt.
Choices made here: the answers are gold examples (not earlier generations); the demonstrations are gold examples
in the window's line format; every answer appears once per epoch.

How a prompt fits the Trainer (as in harness.recipes.docre.llm): one ``Example`` whose ``text`` is the whole prompt and
whose ``label`` is the answer, under the bare ``{sentence}`` template with no label prefix, so the loss is on the
answer tokens + EOS only. The run folder is ``<gen run_dir>/warmup`` (a harness run folder: config.json,
checkpoints/, metrics.jsonl, export/); generation then loads ``export/``. An interrupted warm-up resumes from its
latest checkpoint; a finished one (its export exists) is reused. The tokenizer is the generation stage's own.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness import log
from harness.config import DataConfig, RunConfig, TrainConfig
from harness.data.dataset import Splits
from harness.data.examples import Example
from harness.data.prompts import Template
from harness.recipes.gen.config import GenConfig
from harness.recipes.gen.generate import gold_order
from harness.recipes.gen.prompt import ANSWER_PREFIX, Sample, from_example, render

TEMPLATE = Template("gen-warmup", "{sentence}", "")  # the prompt is the whole text; the answer follows it directly


def answer_text(sample: Sample) -> str:
    """What the generator should write after the prompt's ``head:``: the sample's line without that prefix."""
    return sample.line()[len(ANSWER_PREFIX):]


def demo_counts(g: GenConfig) -> list[int]:
    """The demonstration counts generation's prompts have, cycled over by the warm-up prompts."""
    if g.mode == "batch":
        return [g.seed_gold]
    return list(range(min(g.seed_gold, g.window), g.window + 1))


def relation_examples(label: str, index: int, train: list[Example], g: GenConfig) -> list[Example]:
    """The warm-up examples of one relation (``index``: its position among the generated relations)."""
    gold = [from_example(ex) for ex in gold_order(train, label, g.seed, index)]
    n = len(gold) if g.warmup_per_relation == 0 else min(g.warmup_per_relation, len(gold))
    counts = demo_counts(g)
    out = []
    for a in range(n):
        others = gold[a + 1:] + gold[:a]  # the relation's other gold examples, from the answer's successor on
        for r in range(g.warmup_prompts):
            k = min(counts[(a + r) % len(counts)], len(others))
            demos = [others[(r * k + d) % len(others)] for d in range(k)] if others else []
            out.append(Example(id=f"warmup:{label}:{a}:{r}", text=render(label, demos, g.mode), head="", tail="",
                               head_span=(0, 0), tail_span=(0, 0), label=answer_text(gold[a]), split="train"))
    return out


def warmup_examples(labels: list[str], train: list[Example], g: GenConfig) -> list[Example]:
    return [ex for i, label in enumerate(labels) for ex in relation_examples(label, i, train, g)]


def warmup_splits(labels: list[str], splits: Splits, g: GenConfig) -> Splits:
    """The Trainer's input: the warm-up examples as the training split (no dev/test: no evaluation)."""
    train = warmup_examples(labels, splits.train, g)
    if not train:
        raise ValueError("gen.warmup_epochs > 0 but the generated relations have no gold training examples")
    return Splits(train, [], [], splits.label_space, TEMPLATE, {"source": "gen warm-up"})


def run_config(cfg, folder: Path, tokenizer: str) -> RunConfig:
    """The Trainer's RunConfig: the generator (model.large) trained by the gen.warmup_* settings."""
    g = cfg.gen
    train = TrainConfig(epochs=g.warmup_epochs, lr=g.warmup_lr, micro_batch=g.warmup_micro_batch, seed=g.seed,
                        eval_split="", warmup_ratio=0.1, keep_checkpoints=1)
    model = dataclasses.replace(cfg.model, tokenizer=tokenizer)
    return RunConfig(run_dir=str(folder), data=DataConfig(dataset="gen-warmup", template="gen-warmup"), model=model,
                     train=train)


def run_warmup(cfg, splits: Splits, labels: list[str], folder: Path, tokenizer: str, ds_path=None) -> Path:
    """Fine-tune the generator on the warm-up examples in ``folder`` (resumes, or reuses a finished export);
    returns the export folder generation loads."""
    from harness.cli import input_errors
    from harness.run import RunDir
    from harness.train import checkpoint as ckpt
    from harness.train.sft import SFTObjective
    from harness.train.trainer import run

    folder_run = RunDir(folder)
    mode = ckpt.restart_mode(folder_run)
    if mode == "done":
        log.info(f"generator warm-up: reusing {folder_run.export}")
        return folder_run.export
    with input_errors():
        ws = warmup_splits(labels, splits, cfg.gen)
    resume, overwrite = mode == "resume", mode == "overwrite"
    log.info(f"generator warm-up: {len(ws.train)} gold generation lines, {cfg.gen.warmup_epochs} epochs -> {folder}")
    out = run(SFTObjective(run_config(cfg, folder, tokenizer), splits=ws), ds_path, resume=resume,
              overwrite=overwrite)
    out.pop("engine")  # the engine goes before generation builds its model
    return folder_run.export
