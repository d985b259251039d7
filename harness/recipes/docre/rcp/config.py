"""The RCP stage's settings (``RCPConfig``: the ``rcp`` section of harness.recipes.docre.config.DocREConfig, ``--set
rcp.lr=3e-5``) and its run-folder paths (``RCPFiles``: the only place that joins the stage's file names).

Data protocol. With ``train_file`` set (a real run: Re-DocRED's train_revised.json) RCP trains on it, selects the
epoch and tunes the threshold on all of ``dev_file``, and proposes on ``propose_file``. Offline the training
split is absent, so the default is the dev->test protocol: the dev documents are split (seeded, by
``heldout_fraction``) into a training part and a held-out part; RCP trains on the first, selects the epoch and
tunes the threshold on the held-out part, and proposes on the test file. Figures from this protocol are not the
paper's (it trains on 3,053 documents, this on ~400).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.cli import InputError
from harness.config import NOT_RESULT, TrainConfig
from harness.run import TrainFiles

THRESHOLD_MODES = ("fixed", "f1", "recall")


@dataclass(frozen=True, kw_only=True)
class RCPConfig:
    train_file: str = ""  # DocRED-format training documents ("" = offline dev->test protocol, see module doc)
    dev_file: str = ""  # dev documents ("" = $HARNESS_DATA_DIR/redocred/dev_revised.json)
    propose_file: str = field(default="", metadata=NOT_RESULT)  # documents to propose pairs for ("" = $HARNESS_DATA_DIR/redocred/test_revised.json)
    heldout_fraction: float = 0.2  # offline protocol: fraction of dev documents held out (epoch + threshold)
    split_seed: int = 13  # offline protocol: seed of the dev split
    max_docs: int = 0  # 0 = all; else the first N documents of each file (quick runs)
    encoder: str = "tiny-roberta"  # local HF encoder checkpoint (RoBERTa, BERT, ...), a model asset (minilm-l6:
    #   pretrained 6-layer BERT, harness.models.assets) or tiny-roberta | tiny-bert (random init)
    tokenizer: str = ""  # tokenizer path or asset ("" = the checkpoint's; tiny presets train one on the words)
    max_len: int = 512  # encoder window in tokens (specials included); longer documents run as two chunks
    max_doc_len: int = 1022  # document length cap in tokens (specials included; at most 2 * max_len - 2, what two
    #   windows cover: ATLOP's 1024 left 2 tokens in the middle unseen); tokens past it are cut
    emb_size: int = 768  # head/tail extractor output size (a multiple of block_size)
    block_size: int = 64  # grouped bilinear block size
    dropout: float = 0.0  # tiny presets only: hidden and attention dropout probability
    epochs: int = 30  # passes over the training documents (paper, Re-DocRED: 30)
    batch_docs: int = 4  # documents per micro-batch per rank (paper: 4)
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = 3e-5  # encoder peak learning rate (paper, Re-DocRED: 3e-5)
    head_lr: float = 1e-4  # extractors + bilinear peak learning rate (paper: 1e-4)
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    warmup_ratio: float = 0.06  # fraction of optimizer steps of linear warm-up (paper: 6%)
    schedule: str = "linear"  # linear | cosine | constant decay after warm-up (ATLOP: linear)
    grad_clip: float = 1.0  # max global grad norm (paper: 1.0); <= 0 disables
    pos_weight: float = 1.0  # BCE weight of related pairs (1.0 = unweighted, as the reference code)
    seed: int = 66  # init and data-order seed (reference: 66)
    threshold_mode: str = field(default="fixed", metadata=NOT_RESULT)  # fixed (P(related) > threshold, the
    #   reference code) | f1 (max F1 of related-pair detection on dev) | recall (>= recall_target); propose.py doc
    recall_target: float = field(default=0.95, metadata=NOT_RESULT)  # threshold_mode=recall: fraction of dev related pairs kept
    threshold: float = field(default=0.5, metadata=NOT_RESULT)  # threshold_mode=fixed: a pair is proposed when
    #   P(related) > threshold (reference code: 0.5)
    eval_batch_docs: int = field(default=8, metadata=NOT_RESULT)  # documents per prediction batch
    log_every: int = field(default=10, metadata=NOT_RESULT)  # optimizer steps between metric lines
    keep_checkpoints: int = field(default=1, metadata=NOT_RESULT)  # epoch checkpoints kept on disk (0 = all)
    dtype: str = "float32"  # plain engine: float32 | bfloat16 (DeepSpeed: its config's precision)

    def train_config(self) -> TrainConfig:
        """The harness TrainConfig the engines read (optimizer, schedule, clipping, accumulation)."""
        return TrainConfig(epochs=self.epochs, micro_batch=self.batch_docs, grad_accum=self.grad_accum, lr=self.lr,
                           weight_decay=self.weight_decay, warmup_ratio=self.warmup_ratio, schedule=self.schedule,
                           grad_clip=self.grad_clip, seed=self.seed, packing=False, log_every=self.log_every,
                           keep_checkpoints=self.keep_checkpoints, eval_split="")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def model_fields(r: RCPConfig) -> dict:
    """The fields that change the trained model (a resume or a reuse must match them): every field of the section
    but those declared NOT_RESULT (logging, checkpoints kept, prediction batch, and the proposal-time threshold and
    documents, which never change the trained weights)."""
    from harness.config import settings

    return settings(r)


def check(r: RCPConfig) -> None:
    """Refuse inconsistent settings with one line naming the field."""
    if r.threshold_mode not in THRESHOLD_MODES:
        raise InputError(f"rcp.threshold_mode must be one of {THRESHOLD_MODES}, got {r.threshold_mode!r}")
    if r.emb_size % r.block_size:
        raise InputError(f"rcp.emb_size ({r.emb_size}) must be a multiple of rcp.block_size ({r.block_size})")
    if not 0.0 < r.heldout_fraction < 1.0:
        raise InputError(f"rcp.heldout_fraction must be in (0, 1), got {r.heldout_fraction}")
    if r.max_len < 8 or r.max_doc_len < r.max_len or r.max_doc_len > 2 * r.max_len - 2:
        raise InputError(f"need 8 <= max_len <= max_doc_len <= 2 * max_len - 2 (two chunks cover a document), got "
                         f"rcp.max_len {r.max_len}, rcp.max_doc_len {r.max_doc_len}")
    if not 0.0 <= r.threshold < 1.0:
        raise InputError(f"rcp.threshold must be a probability in [0, 1) (pairs above it are proposed), got "
                         f"{r.threshold}")
    if not 0.0 < r.recall_target <= 1.0:
        raise InputError(f"rcp.recall_target must be in (0, 1], got {r.recall_target}")


def data_path(explicit: str, default_rel: str) -> Path:
    """``explicit`` or ``$HARNESS_DATA_DIR/<default_rel>`` (an InputError when neither is there)."""
    if explicit:
        return Path(explicit)
    root = os.environ.get("HARNESS_DATA_DIR", "")
    if not root:
        raise InputError(f"no file given and HARNESS_DATA_DIR unset: set it or pass the path ({default_rel})")
    return Path(root) / default_rel


class RCPFiles(TrainFiles):
    """The RCP stage's files under ``<run_dir>/rcp``:

        config.json               the resolved RCPConfig of the training (+ ds_config.json under DeepSpeed)
        tokenizer/                the tokenizer (tiny presets train one; checkpoints' is copied)
        checkpoints/              engine checkpoints at epoch ends (harness.train.checkpoint: latest, step<N>/)
        metrics.jsonl             one record per logged optimizer step
        evals.jsonl               one record per epoch: dev (held-out) detection P/R/F1 at the F1-best threshold
        best/model.pt             weights of the best epoch (dev F1) + best/encoder_config/ (the encoder's config)
        threshold.json            the threshold (mode, value, strict: > rather than >=) with its dev figures
        candidates/<name>.jsonl   the candidates file (the contract with the LLM stage) + <name>.stats.json
    """

    def __init__(self, run_dir: str | Path):
        super().__init__(Path(run_dir) / "rcp")

    best = property(lambda self: self.dir / "best")
    best_model = property(lambda self: self.dir / "best" / "model.pt")
    encoder_config = property(lambda self: self.dir / "best" / "encoder_config")
    threshold = property(lambda self: self.dir / "threshold.json")
    export = property(lambda self: self.dir / "best")  # RCP's export is the best epoch's weights

    def candidates(self, name: str) -> Path:
        return self.dir / "candidates" / f"{name}.jsonl"

    def candidate_stats(self, name: str) -> Path:
        return self.dir / "candidates" / f"{name}.stats.json"
