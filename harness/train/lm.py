"""Causal language modelling on raw text (continued pre-training) as an objective on the one loop.

Input (``lm.text_file``): UTF-8 text, one document per line, blank lines skipped; a file that cannot be read is one
error line naming the file (and the line). Each document is tokenised whole: the tokenizer's BOS when it has one
(Llama-style; Qwen2 and the tiny presets have none), the text's tokens, EOS; then cut to ``lm.max_len`` tokens (a
truncated document keeps its head and has no EOS: it goes on). A document is an ``Encoded`` item with an empty
prompt and the document as target, so batches are the SFT objective's: padded, or packed for causal models
(``train.packing``, ``train.tokens_per_micro_batch``; attention stays inside each document, and a document's first
token is never predicted, from a neighbour or otherwise).

Loss: the token-mean cross-entropy over every predicted token of the step, sum_t -log p(x_t | x_<t) / N, N = the
step's predicted tokens over all ranks (sum of len - 1 over its documents), all-reduced before any forward
(harness.train.normaliser, mode "token"), through the fused weighted CE (harness.train.loss.WeightedLoss) with every
weight 1. ``train.norm_mode`` does not apply (always "token"); ``train.weights_file`` is refused; no evaluation runs
(``train.eval_split`` is ignored). metrics.jsonl: the loop's keys plus ``label_tokens`` (N). Checkpoints, resume,
DeepSpeed and the Hugging Face export are the loop's. Config: ``LMRunConfig`` = RunConfig + the ``lm`` section
(``load_config(path, sets, cls=LMRunConfig)``); its result-changing fields are model.*, train.* and lm.*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.config import RunConfig
from harness.data.tokenize import Encoded
from harness.run import RunDir
from harness.train.data import dropped
from harness.train.normaliser import step_normaliser
from harness.train.objective import Objective, build_lm

NOT_APPLIED = {"train.norm_mode", "train.weights_file"}  # always "token"; refused


@dataclass(frozen=True, kw_only=True)
class LMConfig:
    text_file: str = ""  # UTF-8 text file, one document per line (blank lines skipped); required
    max_len: int = 1024  # tokens per document, BOS and EOS included (longer ones are cut); >= 2


@dataclass(frozen=True, kw_only=True)
class LMRunConfig(RunConfig):
    lm: LMConfig = field(default_factory=LMConfig)


def read_documents(path: str) -> list[str]:
    """The non-blank lines of a UTF-8 text file (line ends and a leading byte-order mark dropped)."""
    if not path:
        raise ValueError("lm.text_file is empty: give a UTF-8 text file with one document per line")
    if not Path(path).is_file():
        raise FileNotFoundError(f"lm.text_file: {path} is not a file")
    docs = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                raise ValueError(f"{path}:{n}: not UTF-8 text ({e.reason} at byte {e.start + 1} of the line)") from None
            line = line.removeprefix("\ufeff") if n == 1 else line
            if line.strip():
                docs.append(line)
    if not docs:
        raise ValueError(f"{path}: no documents (the file is empty or every line is blank)")
    return docs


def encode_documents(docs: list[str], tok, max_len: int) -> Encoded:
    """Documents as causal items: empty prompts, targets [BOS] + tokens + EOS cut to ``max_len``."""
    if tok.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token; every document ends with one")
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    ids = tok(docs, add_special_tokens=False)["input_ids"]
    targets = [(bos + list(x) + [tok.eos_token_id])[:max_len] for x in ids]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    return Encoded([[] for _ in docs], targets, "causal", pad, tok.eos_token_id, pad)


class LMObjective(Objective):
    """Token-mean causal LM cross-entropy over the documents of ``cfg.lm.text_file`` (items are documents)."""

    stage = "lm"
    unit = "documents"
    what = "a language-modelling run"
    sections = ("model", "train", "lm")

    def __init__(self, cfg: LMRunConfig):
        self.cfg, self.train_cfg, self.files = cfg, cfg.train, RunDir(cfg.run_dir)

    def settings(self, config: dict | None = None) -> dict:
        return {k: v for k, v in super().settings(config).items() if k not in NOT_APPLIED}

    # ---- inputs -----------------------------------------------------------------------------------------
    def prepare(self, trainer) -> None:
        from harness.models.load import family_of, resolve_config
        from harness.models.tokenizer import shared_tokenizer

        lm, tc = self.cfg.lm, self.train_cfg
        if lm.max_len < 2:
            raise ValueError(f"lm.max_len must be >= 2 tokens (a token and the next one to predict), got {lm.max_len}")
        if tc.weights_file:
            raise ValueError("train.weights_file does not apply to language modelling (every token counts once)")
        docs = read_documents(lm.text_file)
        self.tok = tok = shared_tokenizer(self.cfg.model, docs, self.files.tokenizer)
        self.mcfg = resolve_config(self.cfg.model.large, len(tok), pad_id=tok.pad_token_id, eos_id=tok.eos_token_id)
        if family_of(self.mcfg) != "causal":
            raise ValueError(f"language modelling trains causal models; model.large={self.cfg.model.large} is "
                             f"{family_of(self.mcfg)}")
        self.items = encode_documents(docs, tok, lm.max_len)
        self.n_cut = sum(len(t) == lm.max_len for t in self.items.target_ids)
        self.packed = tc.packing

    def describe(self, trainer) -> str:
        tc, lm, n = self.train_cfg, self.cfg.lm, len(self.items)
        tokens = sum(len(t) for t in self.items.target_ids)
        return (f"lm: {n} documents from {lm.text_file} ({tokens} tokens; {self.n_cut} at lm.max_len={lm.max_len}), "
                f"global batch {trainer.gbs} ({tc.micro_batch} x {tc.grad_accum} x {trainer.world} ranks), "
                f"{trainer.steps_per_epoch} steps/epoch, {trainer.total} steps; {dropped(n, trainer.gbs)} "
                f"documents/epoch dropped; "
                f"{f'packed rows of <= {tc.tokens_per_micro_batch} tokens' if self.packed else 'padded rows'}")

    # ---- model ------------------------------------------------------------------------------------------
    def build_model(self, trainer):
        return build_lm(trainer, self.cfg.model, self.tok, self.train_cfg.seed)

    def loss_module(self, model, zero3: bool):
        from harness.train.loss import WeightedLoss

        return WeightedLoss(model, norm_mode="token", impl=self.train_cfg.loss_impl, zero3=zero3)

    # ---- one step (batch, forward with unit weights, export: the Objective defaults) ------------------------
    def normaliser(self, batches: list[dict], micro: list[list[int]]) -> float:
        return step_normaliser(batches, "causal", "token")

    def readout(self, stats: list[float], normaliser: float) -> dict:
        return {"label_tokens": int(normaliser)}


def train_lm(cfg: LMRunConfig, ds_path=None, **kw) -> dict:
    """Read the text (one-line input errors), build, train, export: ``harness.train.trainer.run`` on
    ``LMObjective(cfg)``; keyword arguments as ``Trainer`` (resume, overwrite, export, on_step, ...)."""
    from harness.train.trainer import run

    return run(LMObjective(cfg), ds_path, **kw)
