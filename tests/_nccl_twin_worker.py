"""Run by tests/test_dist.py under torchrun (2 ranks) with HARNESS_DIST_BACKEND=cuda:gloo: a default group that
refuses CPU tensors as NCCL does. Records what the raw default group refuses and what the harness helpers and the
training loop's step bookkeeping return under it."""

import datetime
import json
import sys
from pathlib import Path

import torch
import torch.distributed as tdist

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import dist  # noqa: E402
from harness.config import load_config  # noqa: E402
from harness.data.dataset import load_splits  # noqa: E402
from harness.data.tokenize import collate, encode  # noqa: E402
from harness.models.tokenizer import train_tokenizer  # noqa: E402
from harness.train.data import global_batches, rank_micro_batches  # noqa: E402
from harness.train.normaliser import batch_normaliser  # noqa: E402


def refused(fn) -> str:
    try:
        fn()
    except (RuntimeError, AssertionError) as e:
        return str(e).splitlines()[0]
    return ""


def step_bookkeeping(rank: int, world: int) -> dict:
    """Z and the step loss of one global batch of 8 (2 micro-batches per rank) through the loop's functions."""
    from harness.train.normaliser import step_normaliser
    from harness.train.trainer import step_readout

    splits = load_splits(load_config(None, ["data.synthetic_size=40", "data.max_train_examples=16"]).data)
    tok = train_tokenizer([e.text for e in splits.train] * 2, vocab_size=300)
    enc = encode(splits.train, tok, splits.template, "causal")
    order = global_batches(enc, seed=0, epoch=0, global_batch=8)
    mine = [collate(enc, m) for m in rank_micro_batches(order[0], enc, rank=rank, world=world, gas=2)]
    every = [collate(enc, m) for r in range(world) for m in rank_micro_batches(order[0], enc, rank=r, world=world,
                                                                               gas=2)]
    out = {}
    for mode in ("token", "example", "sequence"):
        out[f"z_{mode}"] = step_normaliser(mine, "causal", mode)
        out[f"z_{mode}_expected"] = float(sum(batch_normaliser(b, "causal", mode) for b in every))
    sums, norm = step_readout(torch.tensor([0.25 * (rank + 1)], dtype=torch.float64), torch.tensor(3.0))
    out.update(loss=sums[0], loss_expected=sum(0.25 * (r + 1) for r in range(world)), grad_norm=norm)
    return out


def main(out_dir: str) -> None:
    # the twin group made here, not by harness.dist.init, so the same worker shows the old code failing
    tdist.init_process_group(backend="cuda:gloo", timeout=datetime.timedelta(seconds=60))
    info = dist.init()
    rec = {"backend": tdist.get_backend(),
           "raw_all_reduce_cpu": refused(lambda: tdist.all_reduce(torch.ones(1))),
           "raw_barrier": refused(lambda: tdist.barrier())}
    t = torch.tensor([info.rank + 1.0], dtype=torch.float64)
    rec["all_reduce_sum"] = dist.all_reduce_sum(t).tolist()
    rec["all_reduce_max"] = dist.all_reduce_max(torch.tensor([info.rank * 10])).tolist()
    rec["all_gather_object"] = dist.all_gather_object({"rank": info.rank})
    rec["from_main"] = dist.from_main({"rank": info.rank, "f1": 0.5 + info.rank})  # RCP's "improved" (issue 22)
    dist.barrier()
    rec.update(step_bookkeeping(info.rank, info.world))
    Path(out_dir, f"rank{info.rank}.json").write_text(json.dumps(rec))
    dist.destroy()


if __name__ == "__main__":
    main(sys.argv[1])
