"""Prompt and answer tokens as the reference's Hugging Face path makes them (OSU-NLP-Group/QA4RE @a299f6e,
utils/hf_model_utils.py): ``tokenizer([prompt])`` (special tokens: BOS for LLaMA-style tokenizers, ``</s>`` for
T5) and ``tokenizer(label, add_special_tokens=False) + [eos]``; and the reference's constrained greedy decoding
(``prefix_allowed_tokens_fn`` over the answers' token trie) against ``greedy_choices`` and first-token scores.

The SentencePiece-style tokenizer is trained here with the ``tokenizers`` library the way LLaMA's is laid out
(normalizer: prepend "▁", spaces -> "▁"; BOS added by the post-processor), so ``" A"`` gives ``"▁", "▁A"`` exactly
as LLaMA's does, and the bare ``"A"`` gives ``"▁A"``."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from harness.models.tokenizer import train_tokenizer
from harness.recipes.qa4re import score as qscore
from harness.recipes.qa4re.prompts import build_vanilla_question, letters

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _qa4re_common import CONLL, model, questions  # noqa: E402

LETTERS = letters(26)
CONLL_LABELS = list(CONLL.templates)


def texts():
    return ([q.prompt for q in questions(8)] * 3 + [f"Option: {c}" for c in LETTERS] * 5
            + [f"Relationship: {lab}" for lab in CONLL_LABELS] * 5)


def sentencepiece_tokenizer(kind: str) -> PreTrainedTokenizerFast:
    """``llama``: BOS first; ``t5``: ``</s>`` last (what the reference's two model families get)."""
    t = Tokenizer(models.BPE(unk_token="<unk>"))
    t.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True)
    t.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.Strip(" ", 1, 0)])
    t.train_from_iterator(texts(), trainers.BpeTrainer(vocab_size=500, show_progress=False,
                                                       special_tokens=["<unk>", "<s>", "</s>", "<pad>"]))
    single = "<s> $A" if kind == "llama" else "$A </s>"
    t.post_processor = processors.TemplateProcessing(
        single=single, special_tokens=[(s, t.token_to_id(s)) for s in ("<s>", "</s>") if s in single])
    return PreTrainedTokenizerFast(tokenizer_object=t, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>")


@pytest.fixture(scope="module")
def sp_llama():
    return sentencepiece_tokenizer("llama")


@pytest.fixture(scope="module")
def sp_t5():
    return sentencepiece_tokenizer("t5")


@pytest.fixture(scope="module")
def bpe():
    return train_tokenizer(texts(), 500)


def test_qa4re_sentencepiece_causal_prompt_has_bos_and_answers_are_the_letter_tokens(sp_llama):
    tok = sp_llama
    assert tok.convert_ids_to_tokens(tok(" A", add_special_tokens=False)["input_ids"]) == ["▁", "▁A"]  # the old
    qs = questions(3)  # rule's lone "▁" exists with this tokenizer
    prompts, answers = qscore.question_inputs(tok, qs)
    for q, p, a in zip(qs, prompts, answers):
        assert p == [tok.bos_token_id] + tok(q.prompt, add_special_tokens=False)["input_ids"]
        assert tok.convert_ids_to_tokens(p[-1:])[0].endswith("Option:")  # nothing appended after "Option:"
        assert [tok.convert_ids_to_tokens(c) for c in a] == [[f"▁{x}", "</s>"] for x in q.answers]
    assert qscore.letter_ids(tok, 3) == ([], [[tok.convert_tokens_to_ids(f"▁{x}"), tok.eos_token_id] for x in "ABC"])


def test_qa4re_bpe_preset_answers_are_the_bare_letter(bpe):
    tok = bpe
    assert "ĠA" in tok.get_vocab()  # " A" exists as a token: the bare "A" is what the reference scores
    qs = questions(2)
    prompts, answers = qscore.question_inputs(tok, qs)
    assert prompts == [tok(q.prompt, add_special_tokens=False)["input_ids"] for q in qs]  # it adds no BOS
    assert answers[0] == [[tok.convert_tokens_to_ids(x), tok.eos_token_id] for x in qs[0].answers]


def test_qa4re_seq2seq_prompt_ends_with_eos_and_answers_are_the_letter_tokens(sp_t5):
    tok = sp_t5
    q = questions(1)[0]
    prompts, answers = qscore.question_inputs(tok, [q])
    assert prompts[0] == tok([q.prompt])["input_ids"][0] and prompts[0][-1] == tok.eos_token_id
    assert answers[0] == [tok(x, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for x in q.answers]
    assert [tok.convert_ids_to_tokens(c[:1]) for c in answers[0]] == [[f"▁{x}"] for x in q.answers]


def reference_choice(m, tok, prompt: str, label_space: tuple[str, ...]) -> int:
    """The reference's call_hf_llm_causal / call_hf_llm_enc_dec: greedy generation constrained to the labels'
    token trie (labels tokenised without special tokens, + EOS), decoded and looked up."""
    seq2seq = m.config.is_encoder_decoder
    inputs = tok([prompt])
    trie: dict = {}
    for label in label_space:
        node = trie
        for t in tok(label, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]:
            node = node.setdefault(t, {})
    n = len(inputs["input_ids"][0])
    longest = max(len(tok(lab, add_special_tokens=False)["input_ids"]) for lab in label_space)

    def allowed(batch, input_ids):
        ids = input_ids.tolist()
        prefix = [t for t in ids if t not in tok.all_special_ids] if seq2seq else ids[n:]
        node = trie
        for t in prefix:
            node = node.get(int(t), {})
        return list(node.keys())

    ids = torch.tensor(inputs["input_ids"])
    with torch.no_grad():
        out = m.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=longest,
                         prefix_allowed_tokens_fn=allowed, eos_token_id=tok.eos_token_id, do_sample=False,
                         num_beams=1, pad_token_id=tok.pad_token_id)
    text = tok.batch_decode(out if seq2seq else out[:, n:], skip_special_tokens=True)[0].strip()
    return label_space.index(text)


@pytest.mark.parametrize("spec,kind", [("tiny-qwen2", "llama"), ("tiny-qwen2", "bpe"), ("tiny-t5", "t5"),
                                       ("tiny-t5", "bpe")])
def test_qa4re_choices_equal_the_reference_hf_decoding(spec, kind, sp_llama, sp_t5, bpe):
    tok = {"llama": sp_llama, "t5": sp_t5, "bpe": bpe}[kind]
    m = model(spec, tok)
    qa = questions(5)
    van = [build_vanilla_question(CONLL, q_ex, None) for q_ex in _examples(5)]
    first = qscore.option_scores(m, tok, qa, mode="first-token", batch_examples=2)
    greedy_qa = qscore.greedy_choices(m, tok, qa, batch_examples=2)
    greedy_van = qscore.greedy_choices(m, tok, van, batch_examples=2)
    for q, s, g in zip(qa, first, greedy_qa):
        ref = reference_choice(m, tok, q.prompt, q.answers)
        assert int(np.argmax(s)) == g == ref
    assert greedy_van == [reference_choice(m, tok, q.prompt, q.answers) for q in van]


def _examples(n):
    from harness.data.synthetic import make_synthetic

    return make_synthetic(4 * n, 0)[1][:n]


def test_qa4re_vanilla_sequence_scores_equal_brute_force(bpe):
    m = model("tiny-qwen2", bpe, "float64")
    van = [build_vanilla_question(CONLL, e, None) for e in _examples(3)]
    scores = qscore.option_scores(m, bpe, van, mode="sequence", batch_examples=2)
    prompts, answers = qscore.question_inputs(bpe, van)
    for p, cands, s in zip(prompts, answers, scores):
        ref = []
        for c in cands:
            with torch.no_grad():
                lp = m(input_ids=torch.tensor([p + c])).logits[0, len(p) - 1: len(p) - 1 + len(c)].log_softmax(-1)
            ref.append(sum(lp[j, t].item() for j, t in enumerate(c)))
        np.testing.assert_allclose(s.astype(np.float64), ref, rtol=1e-6, atol=0)
    with pytest.raises(ValueError, match="same first token"):  # "Live_In" / "Located_In" start alike here
        qscore.option_scores(m, bpe, van, mode="first-token")
