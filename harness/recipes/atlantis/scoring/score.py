"""The sharded no-grad scoring pass: per-example label log-likelihood under each frozen model.

Batches are a function of the dataset alone: token-budget batches over ALL examples (sorted by length), then the
list of not-yet-done batches is split between ranks (``harness.dist.shard_range``). A batch therefore has the same
rows and the same padding at any world size and after any restart, and on CPU in fp32 the arrays are bitwise
identical at world size 1 and 2 and after kill -9 + resume. The unit of work is the batch: a batch with any row
not marked done is scored again in full (same composition, same bits) - which is what "score only the missing
rows" means here.

Causal models score packed batches by default (scoring.packing: a batch's examples concatenated into rows, attention
confined to each example, harness.data.tokenize.pack), padded ones with ``scoring.packing=false`` and for seq2seq.

Per batch and model: one body forward (``label_rows``), then ``harness.kernels.label_logprobs`` on the label rows
only (never the [tokens, vocab] tensor); score = sum of label-token log-probs incl. EOS (accumulated in float64,
stored float32), plus the label-token count.

bitsandbytes (``model.quantize``, checkpoints only), measured on CPU (bitsandbytes 0.50.2) with a saved random-init
tiny-qwen2 checkpoint (2 layers, hidden 64, vocab ~300, 16 examples, sequence scores around -95.5 nats;
tests/scoring/test_quantize.py prints the figures): measured in benchmarks/README.md, "Quantized scoring".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from harness import dist
from harness.data.examples import Example, fingerprint
from harness.data.prompts import Template
from harness.data.tokenize import Encoded, collate, encode, pack, packed_batches, token_budget_batches
from harness.kernels import label_logprobs
from harness.log import info, progress
from harness.manifest import git_revision, library_versions
from harness.models.label_rows import label_rows, lm_head_of
from harness.models.load import build_model, family_of, model_identity, pick_dtype, resolve_config
from harness.recipes.atlantis.scoring import store
from harness.run import RunDir

# on_batch(k): this process's batch k (0-based, counted over every model) has its scores written and flushed and
# its done mark not yet; the kill -9 tests' driver (tests/scoring/_score_driver.py) SIGKILLs itself there.
OnBatch = Callable[[int], None]
# Packed scoring rows hold at most this many tokens (or one longer example): under sdpa/eager a packed row's
# block-diagonal mask still costs T^2 attention, so a row of a whole 4096-token batch would waste far more than
# padding does; rows of 512 keep it to a few per cent at 0.5B shape (flash-attn's varlen path skips it entirely).
PACK_ROW_TOKENS = 512


@torch.no_grad()
def score_batch(model, batch: dict, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of label-token log-probs [B] float64, label-token counts [B] int64) for one collated batch."""
    keys = ("input_ids", "attention_mask", "labels", "decoder_input_ids", "decoder_attention_mask", "position_ids",
            "seq_ids", "example_index")
    b = {k: batch[k].to(device) for k in keys if k in batch}
    rows = label_rows(model, b)
    head = lm_head_of(model)
    lp = label_logprobs(rows.hidden, head.weight, rows.targets, bias=head.bias)
    n = rows.batch_size
    sums = torch.zeros(n, dtype=torch.float64, device=lp.device).index_add_(0, rows.row_batch, lp.double())
    counts = torch.bincount(rows.row_batch, minlength=n)
    return sums.cpu(), counts.cpu()


def plan_batches(enc: Encoded, tokens_per_batch: int, packing: bool = False) -> list[list[int]]:
    """Token-budget batches over the whole dataset (independent of world size and of what is already done):
    packed (causal models with ``packing``: the batch's tokens within the budget) or padded (rows x longest)."""
    if tokens_per_batch <= 0:
        raise ValueError(f"scoring.tokens_per_batch must be > 0, got {tokens_per_batch}")
    plan = packed_batches if packing and enc.family == "causal" else token_budget_batches
    return plan(enc, list(range(len(enc))), tokens_per_batch)


def make_batch(enc: Encoded, indices: list[int], packing: bool = False) -> dict:
    """One scoring batch: packed into rows of at most ``PACK_ROW_TOKENS`` (or the batch's longest example) for
    causal models with ``packing``, else padded."""
    if not (packing and enc.family == "causal"):
        return collate(enc, indices)
    return pack(enc, indices, max(PACK_ROW_TOKENS, max(enc.n_tokens(i) for i in indices)))


@dataclass
class ModelSpec:
    name: str  # large | small | reference
    spec: str  # preset or local checkpoint path


def score_model(model, enc: Encoded, batches: list[list[int]], arrays: store.ModelArrays, *, name: str,
                device, counter: list[int], on_batch: OnBatch | None = None, packing: bool = False) -> int:
    """Score this rank's share of the not-done batches into ``arrays``. Returns examples scored.
    ``counter[0]`` counts this process's batches over every model (the index ``on_batch`` receives)."""
    done = np.asarray(arrays.done)
    todo = [b for b in batches if not done[b].all()]
    dist.barrier()  # every rank chose from the same done mask before anyone writes
    mine = [todo[i] for i in dist.shard_range(len(todo), dist.rank(), dist.world())]
    n_mine = sum(len(b) for b in mine)
    info(f"{name}: {len(batches)} batches, {len(todo)} to do ({sum(len(b) for b in todo)} examples), "
         f"rank 0 takes {len(mine)}")
    t0 = time.perf_counter()
    with progress(f"score {name}", n_mine, unit="ex") as bar:
        for b in mine:
            sums, counts = score_batch(model, make_batch(enc, b, packing), device)
            before_done = partial(on_batch, counter[0]) if on_batch is not None else None
            arrays.write(np.asarray(b, dtype=np.int64), sums.to(torch.float32).numpy(), counts.numpy(),
                         before_done=before_done)
            counter[0] += 1
            bar.advance(len(b))
    dt = time.perf_counter() - t0
    if n_mine:
        info(f"{name}: rank 0 scored {n_mine} examples in {dt:.2f}s ({n_mine / max(dt, 1e-9):.1f} ex/s)")
    return n_mine


def role_names(cfg) -> list[str]:
    """``scoring.models`` as a list; "" = large, small, and reference when ``model.reference`` is set."""
    names = [s.strip() for s in cfg.scoring.models.split(",") if s.strip()]
    if names:
        return names
    names = ["large", "small"]
    if cfg.model.reference:
        names.append("reference")
    else:
        info("model.reference is empty: scoring large and small only (train the reference model, set "
             "model.reference=PATH and run again to add its scores)")
    return names


def model_specs(model_cfg, names: list[str]) -> list[ModelSpec]:
    out = []
    for name in names:
        if name not in store.ROLES:
            raise ValueError(f"scoring.models: unknown model role {name!r}; expected some of {store.ROLES}")
        spec = getattr(model_cfg, name)
        if not spec:
            raise ValueError(f"model.{name} is empty: set it to a checkpoint path (the reference model is the "
                             "small model fine-tuned on the training split: train it first) or drop "
                             f"{name!r} from scoring.models")
        out.append(ModelSpec(name, spec))
    return out


def run_scoring(cfg, examples: list[Example], template: Template, tokenizer, run_dir: str | Path,
                on_batch: OnBatch | None = None) -> Path:
    """Score ``examples`` under every model in ``cfg.scoring.models`` into ``<run_dir>/<scoring.out_dir>``.
    Call with the process group initialised (or as a single process). Returns the scores folder.
    ``on_batch``: see ``OnBatch`` (the kill -9 tests' driver installs one; production passes none)."""
    if not examples:
        raise ValueError("no training examples to score")
    scores_dir = RunDir(run_dir, cfg.scoring.out_dir).scores
    device = dist.device_for(dist.env_info())
    specs = model_specs(cfg.model, role_names(cfg))
    ids = dict(pad_id=tokenizer.pad_token_id, eos_id=tokenizer.eos_token_id)
    configs = {s.name: resolve_config(s.spec, len(tokenizer), **ids) for s in specs}
    idents = {s.name: {**model_identity(s.spec, configs[s.name]), "quantize": cfg.model.quantize}
              for s in specs}
    header = {
        "dataset_fingerprint": fingerprint(examples),
        "template_hash": template.hash,
        "n_examples": len(examples),
        "tokens_per_batch": cfg.scoring.tokens_per_batch,
        "packing": cfg.scoring.packing,
        "dtype": str(pick_dtype(cfg.model.dtype, device)).replace("torch.", ""),
        "device_type": device.type,
        "library_versions": library_versions(),
    }
    dist.on_main(lambda: store.prepare(scores_dir, header, idents, extra={"git_revision": git_revision()}),
                 f"to prepare the scores folder {scores_dir}")
    counter = [0]
    encoded: dict[tuple, tuple[Encoded, list[list[int]]]] = {}  # models of one family share tokens and batches
    for s in specs:
        config = configs[s.name]
        family = family_of(config)
        key = (family, getattr(config, "decoder_start_token_id", None))
        if key not in encoded:
            enc = encode(examples, tokenizer, template, family, decoder_start_id=key[1])
            encoded[key] = enc, plan_batches(enc, cfg.scoring.tokens_per_batch, cfg.scoring.packing)
            if cfg.scoring.packing and family != "causal":
                info(f"scoring.packing: {s.name} is seq2seq, scored on padded batches (packing is for causal models)")
        enc, batches = encoded[key]
        arrays = store.open_arrays(scores_dir, s.name, len(examples), "r+")
        model = build_model(s.spec, vocab_size=len(tokenizer), dtype=cfg.model.dtype, device=device,
                            attn_impl=cfg.model.attn_impl, quantize=cfg.model.quantize, **ids).eval()
        model.requires_grad_(False)
        score_model(model, enc, batches, arrays, name=s.name, device=device, counter=counter, on_batch=on_batch,
                    packing=cfg.scoring.packing)
        del model
        dist.barrier()
        dist.on_main(partial(check_all_scored, arrays, f"{scores_dir}: {s.name!r}"), f"the check of {s.name!r}")
    return scores_dir


def check_all_scored(arrays, what: str) -> None:
    """Raise when a row of ``arrays`` is still not done after a scoring pass (rank 0, through ``dist.on_main``)."""
    left = int((np.asarray(arrays.done) == 0).sum())
    if left:
        raise RuntimeError(f"{what}: {left} rows still not scored after the pass")
