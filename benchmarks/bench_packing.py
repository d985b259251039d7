"""Packed vs padded micro-batches, same run: training tokens/s and padding fraction, and the scoring pass's FLOP
efficiency.

    python benchmarks/bench_packing.py [--model qwen2-0.5b-shape] [--dataset semeval] [--data-dir DIR]
        [--micro-batch 8] [--order both|harness|random] [--warmup 1 --steps 3] [--score-examples 64 --score-tokens 1024]
        [--out CSV]

Lengths: the dataset's training split (``--dataset``, files in ``--data-dir``, default
$HARNESS_DATA_DIR/semeval2010_task8; ``synthetic`` needs none) rendered with
its default template and tokenised the way a preset run does it (harness.models.tokenizer: a BPE tokenizer of
1024 ids trained on the rendered training prompts), causal layout (prompt + label + EOS). The token ids index the
model's real vocabulary; only the lengths matter here. Each row records the mean/min/max example length.

Training (rows ``phase=train``, one per layout and order): the first ``--warmup + --steps`` micro-batches of
``--micro-batch`` examples in each order of ``--order`` (default ``both``, in this one run and process):
``harness`` = harness.train.data's (length-grouped global batches of one micro-batch, world 1), ``random`` = a
seeded random draw (the issue's "random micro-batches"). Three layouts get the same examples per step: ``padded``
(sdpa), ``packed`` (the 4-D block mask under sdpa: dense row x row attention) and ``packed_segments``
(harness.models.attention's ``sdpa_segments``: one causal SDPA per example, the masked blocks never computed); one
model and AdamW (harness.train.engine.PlainEngine, fp32, token normalisation, unit weights), the layouts rotating
step by step so all see the same machine load; the first step's losses of the layouts are checked to agree (rtol
1e-4; the run fails otherwise). step_s = median of the timed steps; tokens/s = real (non-pad) tokens / step_s;
speedup = padded step_s / the layout's (same order, same run); padding = 1 - real tokens / token slots (rows x
width) over the timed steps. Packed rows hold up to ``--tokens-per-micro-batch`` tokens (train's default 4096: one
row per micro-batch at RE lengths).

Scoring (rows ``phase=score``): the first ``--score-examples`` training examples through
harness.recipes.atlantis.scoring.score's batches (``--score-tokens`` budget; padded = token_budget_batches, packed = packed_batches
+ make_batch), no grad, after one untimed batch of each; the two layouts' batches alternate, each layout's time is
the sum of its batches. FLOP efficiency = achieved FLOP/s / peak with achieved = real
tokens x forward FLOPs per token (harness.train.metrics.flops_per_token / 3, seq = the mean example length: the
work an ideal kernel does, padding and the masked-out attention not credited) / seconds, and peak = the fp32
matmul throughput measured in this run (harness.train.metrics.cpu_matmul_peak, best of 10 2048^3 torch.mm) on
CPU, the dense bf16 table on CUDA.
Rows append to benchmarks/results/packing.csv with the shared stamp (device, date, git revision, versions).
Figures: benchmarks/README.md ("Packed micro-batches").
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS, ROOT, append_rows, env_stamp  # noqa: E402
from harness.config import DataConfig, TrainConfig  # noqa: E402
from harness.data.tokenize import collate, encode, pack, packed_batches, token_budget_batches  # noqa: E402
from harness.train import metrics as tm  # noqa: E402


def load_lengths(dataset: str, data_dir: str, limit: int):
    """(Encoded causal training split, tokenizer) of ``dataset`` with its default template (see the module doc)."""
    from harness.data.dataset import load_splits
    from harness.models.tokenizer import tokenizer_texts, train_tokenizer

    data_dir = "" if dataset == "synthetic" else data_dir
    splits = load_splits(DataConfig(dataset=dataset, data_dir=data_dir, max_train_examples=limit,
                                    synthetic_size=max(limit, 64)))
    tok = train_tokenizer(tokenizer_texts(splits), 1024)
    return encode(splits.train, tok, splits.template, "causal"), tok


def micro_batches(enc, n: int, micro: int, order: str) -> list[list[int]]:
    if order == "random":
        rng = np.random.default_rng(0)
        return [rng.choice(len(enc), micro, replace=False).tolist() for _ in range(n)]
    from harness.train.data import global_batches

    batches = global_batches(enc, seed=0, epoch=0, global_batch=micro)
    return [sorted(b, key=lambda i: (enc.n_tokens(i), i)) for b in batches[:n]]  # as rank_micro_batches orders


LAYOUTS = ("padded", "packed", "packed_segments")  # packed: 4-D block mask under sdpa; _segments: sdpa_segments
ATTN = {"padded": "sdpa", "packed": "sdpa", "packed_segments": "sdpa_segments"}


def layouts(enc, idx: list[int], row_tokens: int) -> dict[str, dict]:
    packed = pack(enc, idx, row_tokens)
    return {"padded": collate(enc, idx), "packed": packed, "packed_segments": packed}


def _use(model, layout: str) -> None:
    """The layout's attention function (transformers reads config._attn_implementation at every forward)."""
    model.config._attn_implementation = ATTN[layout]


@torch.no_grad()
def first_losses(engine, batches: dict[str, dict], n: int) -> dict[str, float]:
    """Every layout's loss of the first micro-batch before any step (the run fails unless they agree)."""
    from harness.train.normaliser import batch_normaliser

    out = {}
    for k, b in batches.items():
        _use(engine.model, k)
        out[k] = float(engine.forward(b, torch.ones(n), batch_normaliser(b, "causal", "token")))
    for k in LAYOUTS[1:]:
        if not np.isclose(out[k], out["padded"], rtol=1e-4):
            raise SystemExit(f"first-step losses disagree: {k} {out[k]} vs padded {out['padded']}")
    return out


def train_rows(args, enc, tok, model_spec: str) -> list[dict]:
    """Every order of ``args.order`` in this one run and process (one model, one AdamW): per step the three
    layouts of the same micro-batch, in a rotating order so each sees the same machine load."""
    from harness.models.load import build_model
    from harness.train.engine import PlainEngine
    from harness.train.normaliser import batch_normaliser

    torch.manual_seed(0)
    model = build_model(model_spec, vocab_size=len(tok), pad_id=tok.pad_token_id, eos_id=tok.eos_token_id,
                        attn_impl="sdpa")
    n = args.warmup + args.steps
    orders = ("harness", "random") if args.order == "both" else (args.order,)
    engine = PlainEngine(model, TrainConfig(norm_mode="token", lr=1e-5, micro_batch=args.micro_batch),
                         n * len(LAYOUTS) * len(orders))
    out = []
    for order_name in orders:
        times = {k: [] for k in LAYOUTS}
        stats = {k: [0, 0] for k in times}  # real tokens, token slots over the timed steps
        order = micro_batches(enc, n, args.micro_batch, order_name)
        first = first_losses(engine, layouts(enc, order[0], args.tokens_per_micro_batch), len(order[0]))
        for step, idx in enumerate(order):
            b = layouts(enc, idx, args.tokens_per_micro_batch)
            for name in LAYOUTS[step % 3:] + LAYOUTS[:step % 3]:
                _use(model, name)
                t0 = time.perf_counter()
                loss = engine.forward(b[name], torch.ones(len(idx)), batch_normaliser(b[name], "causal", "token"))
                engine.backward(loss)
                engine.step()
                dt = time.perf_counter() - t0
                if step >= args.warmup:
                    times[name].append(dt)
                    stats[name][0] += int(b[name]["attention_mask"].sum())
                    stats[name][1] += b[name]["input_ids"].numel()
            print(f"{order_name} step {step}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items() if v),
                  flush=True)
        rows = []
        for name in LAYOUTS:
            step_s = statistics.median(times[name])
            real, slots = stats[name]
            rows.append({"phase": "train", "layout": name, "attn": ATTN[name], "order": order_name,
                         "micro_batch": args.micro_batch, "steps": args.steps, "step_s": round(step_s, 4),
                         "tokens_per_s": round(real / args.steps / step_s, 2),
                         "padding": round(1 - real / slots, 4), "first_loss": first[name]})
        for r in rows[1:]:
            r["speedup"] = round(rows[0]["step_s"] / r["step_s"], 3)  # vs padded, same order, same run
        out += rows
    return out


@torch.no_grad()
def score_rows(args, enc, tok, model_spec: str, peak: float) -> list[dict]:
    from harness.models.load import build_model
    from harness.recipes.atlantis.scoring.score import make_batch, score_batch

    model = build_model(model_spec, vocab_size=len(tok), pad_id=tok.pad_token_id, eos_id=tok.eos_token_id).eval()
    idx = list(range(min(args.score_examples, len(enc))))
    mean_len = sum(enc.n_tokens(i) for i in idx) / len(idx)
    fwd = tm.flops_per_token(model.config, tm.matmul_params(model), mean_len) / 3
    plans = {"padded": (token_budget_batches(enc, idx, args.score_tokens), False),
             "packed": (packed_batches(enc, idx, args.score_tokens), True)}
    built = {name: [make_batch(enc, b, packing) for b in batches] for name, (batches, packing) in plans.items()}
    secs, sums = {name: 0.0 for name in plans}, {name: [] for name in plans}
    for name in plans:
        score_batch(model, built[name][0])  # warm-up
    for j in range(max(len(v) for v in built.values())):  # the layouts' batches alternate (shared machine)
        for name in plans:
            if j < len(built[name]):
                t0 = time.perf_counter()
                sums[name].append(score_batch(model, built[name][j])[0])
                secs[name] += time.perf_counter() - t0
    out, scores = [], {name: torch.cat(v) for name, v in sums.items()}
    for name, (batches, _) in plans.items():
        dt = secs[name]
        real = sum(int(b["attention_mask"].sum()) for b in built[name])
        slots = sum(b["input_ids"].numel() for b in built[name])
        achieved = real * fwd / dt
        out.append({"phase": "score", "layout": name, "examples": len(idx), "batches": len(batches),
                    "score_tokens": args.score_tokens, "seconds": round(dt, 3), "tokens_per_s": round(real / dt, 2),
                    "padding": round(1 - real / slots, 4), "achieved_tflops": round(achieved / 1e12, 4),
                    "flop_efficiency": round(achieved / peak, 4)})
    order = {name: [i for b in plans[name][0] for i in b] for name in plans}
    a = torch.zeros(len(enc), dtype=torch.float64)
    a[order["packed"]] = scores["packed"]
    b = torch.zeros(len(enc), dtype=torch.float64)
    b[order["padded"]] = scores["padded"]
    out[1]["max_abs_score_diff"] = float((a - b).abs().max())
    out[1]["speedup"] = round(out[0]["seconds"] / out[1]["seconds"], 3)
    return out


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2-0.5b-shape")
    ap.add_argument("--dataset", default="semeval")
    ap.add_argument("--data-dir", default=str(Path(os.environ.get("HARNESS_DATA_DIR", ROOT.parent / "shared" / "data"))
                                              / "semeval2010_task8"), help="the dataset's folder")
    ap.add_argument("--max-examples", type=int, default=0, help="0 = the whole training split")
    ap.add_argument("--micro-batch", type=int, default=8)
    ap.add_argument("--tokens-per-micro-batch", type=int, default=TrainConfig().tokens_per_micro_batch)
    ap.add_argument("--order", choices=("both", "harness", "random"), default="both")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--score-examples", type=int, default=64)
    ap.add_argument("--score-tokens", type=int, default=1024)
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--out", default=str(RESULTS / "packing.csv"))
    args = ap.parse_args(argv)
    enc, tok = load_lengths(args.dataset, args.data_dir, args.max_examples)
    lens = [enc.n_tokens(i) for i in range(len(enc))]
    peak = tm.peak_flops() if torch.cuda.is_available() else tm.cpu_matmul_peak()
    common = {**env_stamp("cpu"), "model": args.model, "dataset": args.dataset, "threads": torch.get_num_threads(),
              "len_mean": round(float(np.mean(lens)), 2), "len_min": min(lens), "len_max": max(lens),
              "tokens_per_micro_batch": args.tokens_per_micro_batch, "peak_tflops": round(peak / 1e12, 4)}
    rows = [] if args.no_train else train_rows(args, enc, tok, args.model)
    if args.score_examples > 0:
        rows += score_rows(args, enc, tok, args.model, peak)
    rows = [{**common, **r} for r in rows]
    append_rows(args.out, rows)
    for r in rows:
        print({k: r[k] for k in r if k not in common or k == "len_mean"})
    return rows


if __name__ == "__main__":
    main()
