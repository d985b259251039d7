"""QA4RE scoring throughput: batched option scoring vs generating each answer one example at a time.

    python benchmarks/bench_qa4re.py [--examples 64] [--batch-examples 16] [--models tiny-qwen2,tiny-t5]

Same model, same questions (the synthetic test split as QA4RE questions: 6 options each), same machine, one run.
Throughput = questions answered per second (both sides do the same body work on the prompt; the batched pass
removes the per-example generate overhead and, for `sequence`, reuses the prompt's KV cache over the letters).

  generate_loop  the reference's procedure: one example at a time, HF ``generate`` greedy, constrained by
                 ``prefix_allowed_tokens_fn`` to the option letters' answer tokens (+ EOS, a trie as in the
                 reference's ``add_to_lattice``), max_new_tokens = the longest answer.
  first-token    harness.recipes.qa4re.score.option_scores(mode="first-token"): one forward per batch, label rows only.
  sequence       option_scores(mode="sequence"): letter + EOS log-likelihood of every option.
``agree`` = fraction of questions where the mode's argmax equals generate_loop's answer. Tiny random-initialised
models: the answers are near chance (QA4RE's accuracy needs an instruction-tuned LLM); only speed is measured.
Rows append to benchmarks/results/qa4re.csv with the shared stamp (benchmarks/common.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS, append_rows, env_stamp, time_median  # noqa: E402
from harness.config import DataConfig  # noqa: E402
from harness.data.dataset import load_splits  # noqa: E402
from harness.models.load import build_model, family_of  # noqa: E402
from harness.models.tokenizer import train_tokenizer  # noqa: E402
from harness.recipes.qa4re.prompts import build_questions, qa_set_for  # noqa: E402
from harness.recipes.qa4re.score import option_scores, question_inputs  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=64, help="questions (synthetic test split)")
    p.add_argument("--batch-examples", type=int, default=16, help="questions per batch of the batched modes")
    p.add_argument("--models", default="tiny-qwen2,tiny-t5", help="comma list of presets")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=str(RESULTS / "qa4re.csv"))
    return p.parse_args(argv)


def generate_answers(model, tok, questions) -> list[int]:
    """The letter index each question's constrained greedy generation answers, one example at a time."""
    fam = family_of(model.config)
    prompts, per_question = question_inputs(tok, questions)  # prompt (+ the letters' shared prefix), answers + EOS
    out = []
    for p, answers in zip(prompts, per_question):
        src = torch.tensor([p], device=model.device)
        n_prompt = 0 if fam == "seq2seq" else len(p)
        skip = 1 if fam == "seq2seq" else 0  # the decoder start token

        def allowed(_, ids, answers=answers, n_prompt=n_prompt, skip=skip):
            done = ids[n_prompt + skip:].tolist()
            return sorted({a[len(done)] for a in answers if len(a) > len(done) and a[: len(done)] == done})

        gen = model.generate(src, attention_mask=torch.ones_like(src), max_new_tokens=max(map(len, answers)),
                             do_sample=False, num_beams=1, prefix_allowed_tokens_fn=allowed,
                             pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        got = gen[0, n_prompt + skip:].tolist()
        out.append(next(k for k, a in enumerate(answers) if got[: len(a)] == a))
    return out


def bench_model(spec: str, tok, questions, args, stamp: dict) -> list[dict]:
    model = build_model(spec, vocab_size=len(tok), pad_id=tok.pad_token_id, eos_id=tok.eos_token_id).eval()
    rows, ref = [], None
    with torch.no_grad():
        gen_s, _ = time_median(lambda: generate_answers(model, tok, questions), repeats=args.repeats)
        ref = generate_answers(model, tok, questions)
    rows.append({"mode": "generate_loop", "seconds": gen_s, "agree": 1.0})
    for mode in ("first-token", "sequence"):
        def run(mode=mode):
            return option_scores(model, tok, questions, mode=mode, batch_examples=args.batch_examples)

        secs, _ = time_median(run, repeats=args.repeats)
        pred = [int(np.argmax(s)) for s in run()]
        rows.append({"mode": mode, "seconds": secs, "agree": float(np.mean([a == b for a, b in zip(pred, ref)]))})
    n = len(questions)
    return [{**stamp, "model": spec, "examples": n, "batch_examples": args.batch_examples, "mode": r["mode"],
             "seconds": round(r["seconds"], 4), "examples_per_s": round(n / r["seconds"], 2),
             "speedup_vs_generate": round(gen_s / r["seconds"], 2), "agree_with_generate": round(r["agree"], 4),
             "threads": torch.get_num_threads()} for r in rows]


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    splits = load_splits(DataConfig(synthetic_size=max(4 * args.examples, 8)))
    questions = build_questions(qa_set_for("synthetic"), splits.test[: args.examples])
    tok = train_tokenizer([q.prompt for q in questions], 1024)
    stamp = env_stamp("cpu")  # one stamp for the run: every row of it compares like with like
    rows = [r for spec in filter(None, args.models.split(",")) for r in bench_model(spec, tok, questions, args, stamp)]
    append_rows(Path(args.out), rows)
    from harness.log import table

    table(f"QA4RE scoring ({len(questions)} questions, {rows[0]['device']})",
          ["model", "mode", "seconds", "examples/s", "x generate", "agree"],
          [[r["model"], r["mode"], r["seconds"], r["examples_per_s"], r["speedup_vs_generate"],
            r["agree_with_generate"]] for r in rows])
    return rows


if __name__ == "__main__":
    main()
