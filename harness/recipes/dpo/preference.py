"""Preference pairs for DPO / IPO: the checked reader, their token ids, and the reference model's log-probs.

Pairs file (the contract with harness.recipes.gen; JSONL, one pair per line):
    {"id": str (unique), "prompt": str, "chosen": str, "rejected": str, "relation": str, "rule": str, ...}
``prompt`` is the full text given to the generator (no special tokens added); ``chosen`` / ``rejected`` are the
completions without EOS. Extra keys are allowed and ignored. Errors name ``file:line``.

Token ids (harness.data.tokenize's causal canonical form): pair p becomes two sequences of one ``Encoded``,
index 2p = chosen and 2p+1 = rejected, each prompt tokens (add_special_tokens=False) + completion tokens + EOS;
the label rows are the completion tokens + EOS. ``PairView`` shows that ``Encoded`` pair-wise (``len`` = pairs,
``n_tokens(p)`` = both sequences), so harness.train.data orders and splits pairs, never halves of one.

Reference log-probs (computed once, before training, by ``score_reference``): two memmaps of harness.recipes.atlantis.scoring.store,
``chosen`` and ``rejected`` ([n_pairs] float32 sums of label-token log-probs incl. EOS, + counts + done marks),
under ``dpo.ref_scores`` (default ``<run_dir>/dpo_ref``), filled by harness.recipes.atlantis.scoring.score's sharded, resumable
pass (token-budget packed batches over all 2N sequences, fixed by the data alone: the same bits at any world size
and after a kill). The manifest records ``pairs_fingerprint`` (id, prompt, chosen, rejected of every pair, in
order), ``tokens_fingerprint`` (every sequence's token ids: tokenizer and template), the reference model's identity
(``reference_identity``), dtype and batch budget; training refuses scores made for another pairs file, tokenisation
or reference model (``load_reference``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness import dist
from harness.data.tokenize import Encoded
from harness.manifest import ManifestMismatch, git_revision, iter_jsonl, library_versions
from harness.recipes.atlantis.scoring import store
from harness.run import RunDir

PAIR_KEYS = ("id", "prompt", "chosen", "rejected")  # required strings (relation and rule: optional strings)
SIDES = ("chosen", "rejected")  # the two score arrays (store names) and the sequence order within a pair
REF_SUBDIR = "dpo_ref"  # the reference scores' folder under the run folder (when dpo.ref_scores is empty)


@dataclass(frozen=True)
class Pair:
    id: str
    prompt: str
    chosen: str
    rejected: str
    relation: str = ""
    rule: str = ""


def _pair_from(rec, where: str) -> Pair:
    if not isinstance(rec, dict):
        raise ValueError(f"{where}: expected a JSON object with keys {list(PAIR_KEYS)}, got {type(rec).__name__}")
    missing = [k for k in PAIR_KEYS if k not in rec]
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing} (a pair needs {list(PAIR_KEYS)})")
    for k in (*PAIR_KEYS, "relation", "rule"):
        if k in rec and not isinstance(rec[k], str):
            raise ValueError(f"{where}: {k!r} must be a string, got {type(rec[k]).__name__}")
    if not rec["id"]:
        raise ValueError(f"{where}: empty 'id'")
    if not rec["prompt"]:
        raise ValueError(f"{where}: empty 'prompt' (the completions need a context to be scored in)")
    return Pair(rec["id"], rec["prompt"], rec["chosen"], rec["rejected"], rec.get("relation", ""), rec.get("rule", ""))


def read_pairs(path: str | Path) -> list[Pair]:
    """The pairs of a JSONL file, in file order; a malformed line or a repeated id is an error naming file:line."""
    if not str(path):
        raise ValueError("dpo.pairs_file is empty: set it to a preference pairs JSONL (python -m harness gen pairs)")
    path, pairs, seen = Path(path), [], {}
    for lineno, rec in iter_jsonl(path, "preference pairs file"):
        pair = _pair_from(rec, f"{path}:{lineno}")
        if pair.id in seen:
            raise ValueError(f"{path}:{lineno}: pair id {pair.id!r} repeats line {seen[pair.id]}")
        seen[pair.id] = lineno
        pairs.append(pair)
    if not pairs:
        raise ValueError(f"{path}: no preference pairs (empty file)")
    return pairs


def pairs_fingerprint(pairs: list[Pair]) -> str:
    """Content hash of the pairs (order-sensitive): id, prompt, chosen, rejected (extra keys do not count)."""
    h = hashlib.sha256()
    for p in pairs:
        h.update(json.dumps([p.id, p.prompt, p.chosen, p.rejected], ensure_ascii=False).encode() + b"\n")
    return h.hexdigest()[:16]


def pair_texts(pairs: list[Pair]) -> list[str]:
    """The corpus a tiny preset's tokenizer is trained on (harness.models.tokenizer.resolve_tokenizer)."""
    return [t for p in pairs for t in (p.prompt, p.chosen, p.rejected)]


def encode_pairs(pairs: list[Pair], tokenizer) -> Encoded:
    """2N causal sequences (2p chosen, 2p+1 rejected): prompt ids + completion ids + EOS, labels on the latter."""
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token; completions end with EOS")
    prompts = tokenizer([p.prompt for p in pairs], add_special_tokens=False)["input_ids"]
    comps = tokenizer([t for p in pairs for t in (p.chosen, p.rejected)], add_special_tokens=False)["input_ids"]
    prompt_ids = [list(prompts[k // 2]) for k in range(2 * len(pairs))]
    for p, ids in zip(pairs, prompts):
        if not ids:
            raise ValueError(f"pair {p.id!r}: the prompt tokenises to nothing")
    target_ids = [list(c) + [tokenizer.eos_token_id] for c in comps]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return Encoded(prompt_ids, target_ids, "causal", pad, tokenizer.eos_token_id, pad)


def tokens_fingerprint(enc: Encoded) -> str:
    """Hash of every sequence's prompt and target ids: what the tokenizer and the canonical form produced."""
    h = hashlib.sha256()
    for p, t in zip(enc.prompt_ids, enc.target_ids):
        h.update(json.dumps([p, t]).encode() + b"\n")
    return h.hexdigest()[:16]


class PairView:
    """``enc`` (2N sequences) seen pair-wise for harness.train.data: ``len`` = N, ``n_tokens(p)`` = both sides."""

    def __init__(self, enc: Encoded):
        self.enc = enc

    def __len__(self) -> int:
        return len(self.enc) // 2

    def n_tokens(self, p: int) -> int:
        return self.enc.n_tokens(2 * p) + self.enc.n_tokens(2 * p + 1)


def sequence_indices(pair_ids: list[int]) -> list[int]:
    """The sequences of ``pair_ids`` in batch order: chosen, rejected of the first pair, then the next pair..."""
    return [2 * p + s for p in pair_ids for s in (0, 1)]


# ---- the reference model's log-probs ---------------------------------------------------------------------
def ref_scores_dir(cfg) -> Path:
    """``dpo.ref_scores``, else the run folder's ``dpo_ref`` (a scores folder of RunDir's, like scoring.out_dir)."""
    return Path(cfg.dpo.ref_scores) if cfg.dpo.ref_scores else RunDir(cfg.run_dir, REF_SUBDIR).scores


def reference_spec(cfg) -> str:
    return cfg.dpo.reference or cfg.model.large


def reference_identity(cfg, vocab_size: int, tokenizer) -> dict:
    """What the manifest records of the reference model: spec + config hash (harness.models.load.model_identity),
    for a preset also the seed of its random init (train.seed, as the policy's), for a checkpoint the names and
    sizes of its weight files (a retrained checkpoint in the same folder is another model), and the dtype."""
    from harness.models.load import is_preset, model_identity, resolve_config

    spec = reference_spec(cfg)
    config = resolve_config(spec, vocab_size, pad_id=tokenizer.pad_token_id, eos_id=tokenizer.eos_token_id)
    ident = {**model_identity(spec, config), "dtype": cfg.model.dtype}
    if is_preset(spec):
        ident["seed"] = cfg.train.seed
    else:
        ident["weight_files"] = sorted([f.name, f.stat().st_size] for f in Path(spec).iterdir()
                                       if f.suffix in (".safetensors", ".bin", ".pt"))
    return ident


class PairArrays:
    """The ``chosen`` and ``rejected`` ModelArrays seen as one array of 2N sequences (2p, 2p+1): what
    harness.recipes.atlantis.scoring.score.score_model reads (``done``) and writes (``write``)."""

    def __init__(self, chosen: store.ModelArrays, rejected: store.ModelArrays):
        self.sides = (chosen, rejected)

    @property
    def done(self) -> np.ndarray:
        out = np.empty(2 * len(self.sides[0].done), dtype=np.uint8)
        out[0::2], out[1::2] = self.sides[0].done, self.sides[1].done
        return out

    def write(self, idx: np.ndarray, scores: np.ndarray, ntok: np.ndarray, before_done=None) -> None:
        """Chosen rows first, then rejected rows (values flushed before done marks, per harness.recipes.atlantis.scoring.store);
        a batch with any row not done is scored again in full."""
        for s, arrays in enumerate(self.sides):
            keep = idx % 2 == s
            hook = before_done if s == 1 else None
            arrays.write(idx[keep] // 2, scores[keep], ntok[keep], before_done=hook)


def ref_dtype(train_dtype: str, device) -> str:
    """The reference's precision: the policy's training precision (``engine.training_dtype``: the DeepSpeed
    config's bf16/fp16, else model.dtype), resolved for ``device``. With the reference = the policy, the first
    step's DPO loss is then log 2; a reference scored in another precision would bias every reward."""
    from harness.models.load import pick_dtype

    return str(pick_dtype(train_dtype, device)).replace("torch.", "")


def ref_header(cfg, pairs: list[Pair], enc: Encoded, device, dtype: str) -> dict:
    return {"kind": "dpo_reference", "pairs_fingerprint": pairs_fingerprint(pairs),
            "tokens_fingerprint": tokens_fingerprint(enc), "n_examples": len(pairs),
            "tokens_per_batch": cfg.dpo.ref_tokens_per_batch, "packing": True,
            "dtype": ref_dtype(dtype, device), "device_type": device.type}


def score_reference(cfg, pairs: list[Pair], enc: Encoded, tokenizer, *, train_dtype: str, on_batch=None) -> Path:
    """Fill the reference memmaps (sharded over ranks, resumable; rows already done are kept) in the policy's
    ``train_dtype`` (``harness.train.engine.training_dtype``). Call on every rank with the process group up (or as
    one process). Returns the folder."""
    from harness.models.load import build_model
    from harness.recipes.atlantis.scoring.score import plan_batches, score_model

    out = ref_scores_dir(cfg)
    device = dist.device_for(dist.env_info())
    ident = reference_identity(cfg, len(tokenizer), tokenizer)
    header = ref_header(cfg, pairs, enc, device, train_dtype)
    dist.on_main(lambda: store.prepare(out, header, {s: ident for s in SIDES},
                                       extra={"git_revision": git_revision(), "library_versions": library_versions(),
                                              "pairs_file": str(cfg.dpo.pairs_file)}),
                 f"to prepare the reference scores folder {out}")
    arrays = PairArrays(*(store.open_arrays(out, s, len(pairs), "r+") for s in SIDES))
    if arrays.done.all():
        return out
    model = build_model(reference_spec(cfg), vocab_size=len(tokenizer), dtype=ref_dtype(train_dtype, device),
                        device=device, attn_impl=cfg.model.attn_impl, seed=cfg.train.seed, pad_id=tokenizer.pad_token_id,
                        eos_id=tokenizer.eos_token_id).eval()
    model.requires_grad_(False)
    batches = plan_batches(enc, cfg.dpo.ref_tokens_per_batch, packing=True)
    score_model(model, enc, batches, arrays, name="reference", device=device, counter=[0], on_batch=on_batch,
                packing=True)
    del model
    dist.barrier()
    return out


@dataclass
class Reference:
    """The reference log-probs of every pair (float64 copies of the memmaps): sums (nats) and label-token counts."""
    chosen: np.ndarray
    rejected: np.ndarray
    chosen_ntok: np.ndarray
    rejected_ntok: np.ndarray

    def values(self, pair_ids: list[int], average: bool) -> np.ndarray:
        """[2k] float64 in ``sequence_indices`` order: sums, or per-token means when ``average``."""
        out = np.empty(2 * len(pair_ids), dtype=np.float64)
        out[0::2] = self.chosen[pair_ids] / (self.chosen_ntok[pair_ids] if average else 1)
        out[1::2] = self.rejected[pair_ids] / (self.rejected_ntok[pair_ids] if average else 1)
        return out


def load_reference(cfg, pairs: list[Pair], enc: Encoded, tokenizer, *, train_dtype: str) -> Reference:
    """The checked reference scores: refused (ManifestMismatch) when made for another pairs file, tokenisation,
    reference model or precision (not the policy's ``train_dtype``), or not complete; each row's token count must
    equal the sequence's label rows."""
    out = ref_scores_dir(cfg)
    expected = {"kind": "dpo_reference", "pairs_fingerprint": pairs_fingerprint(pairs),
                "tokens_fingerprint": tokens_fingerprint(enc), "n_examples": len(pairs),
                "dtype": ref_dtype(train_dtype, dist.device_for(dist.env_info()))}
    if not (out / store.MANIFEST).is_file():
        raise ManifestMismatch(f"{out}: no reference scores ({store.MANIFEST} missing); run the reference scoring "
                               "pass first (harness.recipes.dpo.objective.run_dpo does it before training)")
    manifest, arrs = store.check_scores(out, expected=expected, names=list(SIDES))
    ident = reference_identity(cfg, len(tokenizer), tokenizer)
    for side in SIDES:
        if manifest["models"][side] != ident:
            raise ManifestMismatch(f"{out / store.MANIFEST}: reference scores were made with "
                                   f"{manifest['models'][side]!r}, this run's reference is {ident!r}; point "
                                   "dpo.ref_scores elsewhere or delete the folder to score again")
    ref = Reference(*(np.asarray(arrs[s].scores, dtype=np.float64) for s in SIDES),
                    *(np.asarray(arrs[s].ntok, dtype=np.int64) for s in SIDES))
    want = np.array([len(t) for t in enc.target_ids]).reshape(-1, 2)
    if not (np.array_equal(ref.chosen_ntok, want[:, 0]) and np.array_equal(ref.rejected_ntok, want[:, 1])):
        raise ManifestMismatch(f"{out}: reference token counts differ from this run's label rows; score again")
    return ref
