"""DocRE's one config (``python -m harness docre``; ``load_config(path, overrides, cls=DocREConfig)``): the LLM stage
and, in ``rcp``, the candidate proposal.

Offline protocol (the default when the file fields are ""): the Re-DocRED training split is not available here, so
the LLM trains on Re-DocRED dev (500 documents) and is evaluated on Re-DocRED test; Ign F1 uses the original
DocRED training facts (docred/ref/train_annotated.fact) and is labelled "Ign F1 (DocRED-train facts)" (see
docred/PROVENANCE.md: Re-DocRED's own train_revised facts are a larger set, so this slightly over-estimates it).
Real runs pass data.train_file (train_revised.json) and data.eval_file by path; Ign F1's training facts then come
from data.train_file itself (every mention-name pair of its labels, as the official gen_train_facts builds them),
unlabelled, unless data.facts names another fact file.

Prompt styles (``prompts.style``; harness.recipes.docre.prompts): ``lmrc`` is LMRC's RC prompt (Table 12), trained
on each training document's gold related pairs and asked about the evaluation documents' candidates (default
``gold``, the oracle of Table 5's "relation classification" row; an RCP candidates file for LMRC itself);
``extract`` is the full-extraction prompt of the preliminary experiment (Table 11, "LoRA FT LLM" in Tables 2-4):
every ordered pair of a document, an unrelated pair answered '(head| None| tail)', trained and asked over all pairs
(candidates default ``all``); ``binary`` is the LLM pre-classifier of Table 5's ablation "w/o pre-classifier w LLM"
(the reference code's step-1 prompt: 'k.Yes' / 'k.No' per pair, over all pairs); its predict step writes a
candidates file (the RCP contract) that a ``lmrc`` run's predict takes as --candidates.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import NOT_RESULT, BaseConfig, TrainConfig
from harness.recipes.docre.rcp.config import RCPConfig

OFFLINE_FACTS_LABEL = "(DocRED-train facts)"


@dataclass(frozen=True, kw_only=True)
class DocREDataConfig:
    data_dir: str = ""  # folder holding redocred/ and docred/ ("" = $HARNESS_DATA_DIR)
    train_file: str = ""  # DocRED-format training documents ("" = <data_dir>/redocred/dev_revised.json, offline)
    eval_file: str = ""  # DocRED-format evaluation documents ("" = <data_dir>/redocred/test_revised.json)
    rel_info: str = ""  # {P-id: name} ("" = <data_dir>/docred/rel_info.json)
    facts: str = ""  # training facts for Ign F1: a .fact file or a DocRED training file ("" = train_file's facts
    #   when train_file is given, else the offline protocol's DocRED train_annotated.fact)
    facts_label: str = ""  # how Ign F1 is labelled ("" = "(DocRED-train facts)" under the offline protocol's facts)
    max_train_docs: int = 0  # 0 = all; else the first N documents of train_file
    max_eval_docs: int = 0  # 0 = all; else the first N documents of eval_file (gold facts of the others ignored)


@dataclass(frozen=True, kw_only=True)
class PromptConfig:
    pairs_per_prompt: int = 0  # entity pairs per prompt; a document's pairs fill ceil(n / k) prompts
    #   (0 = one prompt per document, LMRC's RC stage: n(n-1)/k -> 1 input once NA pairs are gone)
    style: str = "lmrc"  # lmrc (Table 12, RC over candidates) | extract (Table 11, all pairs with None: the LoRA FT
    #   LLM baseline) | binary (Table 5's LLM pre-classifier: Yes/No per pair -> a candidates file); module doc
    candidates: str = ""  # pairs asked at prediction: gold | all | rcp:<name> (this run's <run_dir>/rcp/candidates/
    #   <name>.jsonl) | path of a candidates JSONL ("" = the style's own: gold for lmrc, all for extract and binary)


@dataclass(frozen=True, kw_only=True)
class LoRAConfig:
    r: int = 0  # LoRA rank; 0 = full fine-tuning (LMRC: LoRA r 8, alpha 16)
    alpha: int = 16  # LoRA scaling numerator (scale = alpha / r)
    dropout: float = 0.05  # dropout on the LoRA input, a probability
    target_modules: str = "q_proj,k_proj,v_proj,o_proj"  # comma list of module names that get adapters


@dataclass(frozen=True, kw_only=True)
class DecodeConfig:
    batch_examples: int = field(default=4, metadata=NOT_RESULT)  # prompts per generation batch (per rank)
    max_new_tokens: int = 512  # generated tokens per prompt at most
    fuzzy_threshold: float = 90.0  # rapidfuzz fuzz.ratio (0-100) an entity name needs (harness.recipes.docre.parse)
    relation_align: float = 0.0  # cosine similarity (0, 1] an out-of-set relation answer needs to be mapped to the
    #   most similar relation name (harness.recipes.docre.align, LMRC appendix B; LMRC's F1 peaked near 0.55); 0 = off:
    #   out-of-set relations are errors, as in LMRC's reported scores
    relation_align_model: str = "minilm-l6"  # sentence-embedding model of the alignment (asset or local path)
    only_asked_pairs: bool = True  # drop triples whose pair the prompt did not ask
    ign_eps: bool = False  # ATLOP/DREEAM's +1e-5 in IgnP's denominator (False = the official script)


@dataclass(frozen=True, kw_only=True)
class LLMTrainConfig(TrainConfig):
    """harness TrainConfig with this stage's defaults (LMRC's RC stage: lr 1e-4; one long prompt per example)."""

    epochs: int = 2  # passes over the training prompts
    micro_batch: int = 1  # prompts per micro-batch per rank
    lr: float = 1e-4  # peak learning rate (LMRC's LoRA setting)
    tokens_per_micro_batch: int = 4096  # packing: max tokens per packed row (a prompt is ~1-3k tokens)
    eval_split: str = field(default="", metadata=NOT_RESULT)  # the stage evaluates by decoding (predict), not by
    #   label ranking


@dataclass(frozen=True, kw_only=True)
class DocREConfig(BaseConfig):
    """LMRC's two stages in one config: the LLM stage is the base sections (``model``: the causal LLM; ``data``: the
    documents; ``train``: its fine-tuning) with ``prompts``, ``lora`` and ``decode``; the candidate proposal is the
    ``rcp`` section (its own encoder, data protocol and training settings; harness.recipes.docre.rcp.config)."""
    run_dir: str = field(default="runs/docre", metadata=NOT_RESULT)  # the stage's folder (DocREFiles; RCP: rcp/)
    data: DocREDataConfig = field(default_factory=DocREDataConfig)
    train: LLMTrainConfig = field(default_factory=LLMTrainConfig)
    prompts: PromptConfig = field(default_factory=PromptConfig)
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    rcp: RCPConfig = field(default_factory=RCPConfig)


@dataclass(frozen=True)
class DataPaths:
    train: Path
    eval: Path
    rel_info: Path
    facts: Path | None
    facts_label: str


def resolve_paths(cfg: DocREDataConfig) -> DataPaths:
    """The files the config names, defaults filled from the data folder (offline protocol). Ign F1's facts: data.facts,
    else data.train_file's own labels, else (offline) DocRED's train_annotated.fact labelled "(DocRED-train facts)"."""
    root = Path(cfg.data_dir or os.environ.get("HARNESS_DATA_DIR", ""))
    needs_root = not (cfg.train_file and cfg.eval_file and cfg.rel_info)
    if needs_root and not str(root) or needs_root and not root.is_dir():
        raise ValueError(f"data.data_dir={str(root)!r} is not a folder: set data.data_dir (or $HARNESS_DATA_DIR) "
                         "or give data.train_file, eval_file and rel_info")
    offline = not (cfg.facts or cfg.train_file)
    facts = (Path(cfg.facts) if cfg.facts else Path(cfg.train_file) if cfg.train_file
             else root / "docred" / "ref" / "train_annotated.fact")
    label = cfg.facts_label or (OFFLINE_FACTS_LABEL if offline else "")
    return DataPaths(Path(cfg.train_file) if cfg.train_file else root / "redocred" / "dev_revised.json",
                     Path(cfg.eval_file) if cfg.eval_file else root / "redocred" / "test_revised.json",
                     Path(cfg.rel_info) if cfg.rel_info else root / "docred" / "rel_info.json", facts, label)
