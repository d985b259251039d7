"""Causal LM on raw text (harness.train.lm): the first step's loss against a float64 reference from the model's
logits, packed = padded, exact resume after an interruption, learning on a tiny repeated corpus, one-line errors.

One module-scoped straight run serves three tests: 4 distinct documents (one longer than lm.max_len) repeated 4
times, with blank lines between them (skipped), 2 documents x 2 micro-batches per step, 4 steps/epoch, 3 epochs."""

import copy
import json
import re

import pytest
import torch

from harness.cli import InputError, one_line
from harness.config import load_config
from harness.runstate import ConfigMismatch
from harness.train.data import global_batches
from harness.train.lm import LMObjective, LMRunConfig, train_lm
from harness.train.trainer import Trainer

DOCS = ["the cat sat on the mat", "a red dog ran far away from the blue house by the green river",
        "tree", "the green tree by the river and the red house on the hill, far away, quickly, slowly, " * 3]
MAX_LEN = 24  # tokens: the last document is cut


def write_text(path, repeat=4):
    path.write_text("\n\n".join(DOCS * repeat) + "\n", encoding="utf-8")
    return path


def lm_cfg(run, text, *sets):
    return load_config(None, [f"run_dir={run}", f"lm.text_file={text}", f"lm.max_len={MAX_LEN}",
                              "train.micro_batch=2", "train.grad_accum=2", "train.epochs=3", "train.lr=5e-3",
                              "train.save_every=2", "train.tokens_per_micro_batch=32", *sets], cls=LMRunConfig)


def _metrics(run):
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    text = write_text(root / "text.txt")
    out = train_lm(lm_cfg(root / "straight", text), export=False)
    assert out["steps"] == 12
    return text, _metrics(root / "straight")


# ---- the loss against a float64 reference --------------------------------------------------------------------
def _reference(model, tok, docs):
    """sum over documents and positions t >= 1 of -log p(x_t | x_<t) (float64, one unpadded forward per document,
    so no padding can leak in; position 0 has nothing before it) / the count of such t; and that count."""
    total, count = torch.zeros((), dtype=torch.float64), 0
    for doc in docs:
        ids = torch.tensor([(tok(doc, add_special_tokens=False)["input_ids"] + [tok.eos_token_id])[:MAX_LEN]])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0].double(), dim=-1)
        total -= logp[:-1].gather(1, ids[0, 1:, None]).sum()
        count += ids.shape[1] - 1
    return total / count, count


@pytest.mark.parametrize("packing", ["true", "false"])
def test_lm_first_step_loss_is_the_token_mean_ce_of_the_step(tmp_path, packing):
    text = write_text(tmp_path / "text.txt", repeat=2)
    trainer = Trainer(LMObjective(lm_cfg(tmp_path / "run", text, f"train.packing={packing}")), export=False).setup()
    try:
        obj = trainer.objective
        model = copy.deepcopy(trainer.engine.model).double().eval()
        step = global_batches(obj.items, seed=0, epoch=0, global_batch=trainer.gbs)[0]
        rec = trainer.train_step(step)
    finally:
        trainer.close()
    assert obj.tok.bos_token_id is None  # the tiny tokenizer has no BOS: a document's first token is unpredicted
    lines = [x for x in text.read_text().splitlines() if x]
    want, count = _reference(model, obj.tok, [lines[i] for i in step])
    assert rec["label_tokens"] == count  # the step's normaliser: every predicted token of both micro-batches
    torch.testing.assert_close(torch.tensor(rec["loss"], dtype=torch.float64), want, rtol=1e-5, atol=0)
    # the same figure from HF's own loss over one right-padded batch of the step (padding labelled -100)
    width = max(len(obj.items.target_ids[i]) for i in step)
    ids = torch.full((len(step), width), obj.items.pad_id)
    labels, mask = torch.full_like(ids, -100), torch.zeros_like(ids)
    for r, i in enumerate(step):
        t = torch.tensor(obj.items.target_ids[i])
        ids[r, :len(t)], labels[r, :len(t)], mask[r, :len(t)] = t, t, 1
    with torch.no_grad():
        hf = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    torch.testing.assert_close(hf.double(), want, rtol=1e-6, atol=0)  # HF's loss casts logits to float32


# ---- runs ----------------------------------------------------------------------------------------------------
def test_lm_packed_equals_padded(tmp_path, straight):
    text, packed = straight  # rows of <= 32 tokens: some micro-batches are one packed row, others two
    train_lm(lm_cfg(tmp_path / "padded", text, "train.packing=false"), export=False)
    padded = _metrics(tmp_path / "padded")
    assert [r["label_tokens"] for r in padded] == [r["label_tokens"] for r in packed]
    for k in ("loss", "grad_norm"):  # float32 sums in another order (measured: <= 3e-6)
        torch.testing.assert_close([r[k] for r in padded], [r[k] for r in packed], rtol=1e-5, atol=0, msg=k)


class Stop(Exception):
    pass


def test_lm_resume_after_stop_equals_uninterrupted(tmp_path, straight):
    text, want = straight

    def stop(rec):
        if rec["step"] == 5:
            raise Stop

    with pytest.raises(Stop):
        train_lm(lm_cfg(tmp_path / "run", text), export=False, on_step=stop)
    assert [r["step"] for r in _metrics(tmp_path / "run")] == [1, 2, 3, 4, 5]  # checkpoint at step 4
    with pytest.raises(ConfigMismatch, match=r"lm\.max_len: 24 there, 16 now"):
        train_lm(lm_cfg(tmp_path / "run", text, "lm.max_len=16"), resume=True, export=False)
    out = train_lm(lm_cfg(tmp_path / "run", text), resume=True)
    got = _metrics(tmp_path / "run")
    assert [r["step"] for r in got] == list(range(1, 13)) and (tmp_path / "run" / "export").is_dir()
    for k in ("loss", "grad_norm", "label_tokens"):
        torch.testing.assert_close([r[k] for r in got], [r[k] for r in want], rtol=1e-6, atol=0, msg=k)
    assert out["steps"] == 12


def test_lm_loss_decreases_on_a_repeated_corpus(straight):
    _, rec = straight
    epochs = [[r["loss"] for r in rec if r["epoch"] == e] for e in range(3)]
    means = [sum(x) / len(x) for x in epochs]
    assert means[0] > means[1] > means[2] and means[2] < 0.75 * means[0], means


# ---- input errors ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case,msg", [
    ("missing", r"lm\.text_file: {p} is not a file"),
    ("empty", r"{p}: no documents \(the file is empty or every line is blank\)"),
    ("blank", r"{p}: no documents"),
    ("latin1", r"{p}:3: not UTF-8 text \(invalid continuation byte at byte 4 of the line\)"),
    ("unset", r"lm\.text_file is empty"),
    ("max_len", r"lm\.max_len must be >= 2 tokens")])
def test_lm_bad_input_is_one_line(tmp_path, case, msg):
    p = tmp_path / "text.txt"
    content = {"empty": b"", "blank": b"\n  \n\t\n", "latin1": b"one\n\ncaf\xe9 au lait\n"}
    if case in content:
        p.write_bytes(content[case])
    sets = {"unset": ["lm.text_file="], "max_len": ["lm.max_len=1"]}.get(case, [])
    with pytest.raises(InputError) as e:
        train_lm(lm_cfg(tmp_path / "run", p, *sets), export=False)
    line = one_line(e.value)
    assert "\n" not in str(e.value) and line.startswith("error: ")
    assert re.search(msg.format(p=re.escape(str(p))), line), line
