"""What both RCP entry points share (documents per protocol, tokenizer, model) and the propose stage.

``rcp_propose(cfg)`` loads the best epoch's weights, tunes the threshold on the tuning documents (dev, or the
held-out part of dev offline), predicts every candidate pair of ``propose_file`` (or of ``docs_path``) and writes
the candidates file and its stats. It runs in one process (prediction is cheap next to training); under a
launcher with several ranks only rank 0 writes.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from harness import dist, log
from harness.cli import InputError, input_errors
from harness.models.assets import resolve_checkpoint
from harness.recipes.docre.rcp import propose as prop
from harness.recipes.docre.rcp.config import RCPConfig, RCPFiles, check, data_path, model_fields
from harness.recipes.docre.rcp.encoder import build_encoder, is_preset
from harness.recipes.docre.rcp.features import featurize_all, special_ids, train_tiny_tokenizer
from harness.recipes.docre.rcp.model import RCPModel
from harness.recipes.docre.reader import read_docred
from harness.run import atomic_write_json, atomic_write_jsonl


def model_hash(cfg: RCPConfig) -> str:
    return hashlib.sha256(json.dumps(model_fields(cfg), sort_keys=True).encode()).hexdigest()[:16]


def _read(path: Path, max_docs: int):
    docs = read_docred(path)
    return docs[:max_docs] if max_docs else docs


def split_dev(docs: list, fraction: float, seed: int) -> tuple[list, list]:
    """Offline protocol: (training part, held-out part) of the dev documents, each in file order (seeded)."""
    n_out = max(1, round(fraction * len(docs)))
    held = set(np.random.default_rng(seed).permutation(len(docs))[:n_out].tolist())
    return [d for i, d in enumerate(docs) if i not in held], [d for i, d in enumerate(docs) if i in held]


def load_docs(cfg: RCPConfig) -> tuple[list, list]:
    """(training documents, tuning documents) of the protocol (config module doc)."""
    dev = _read(data_path(cfg.dev_file, "redocred/dev_revised.json"), cfg.max_docs)
    if cfg.train_file:
        return _read(Path(cfg.train_file), cfg.max_docs), dev
    return split_dev(dev, cfg.heldout_fraction, cfg.split_seed)


def propose_docs(cfg: RCPConfig, docs_path: str = "") -> list:
    return _read(data_path(docs_path or cfg.propose_file, "redocred/test_revised.json"), cfg.max_docs)


def resolve_tokenizer(cfg: RCPConfig, files: RCPFiles, train_docs: list | None):
    """The run's tokenizer. Training (``train_docs`` given; collective): rank 0 saves it to ``files.tokenizer``
    unless there (cfg.tokenizer / the checkpoint's, or for tiny presets one trained on the training documents),
    then every rank loads that copy. Proposing (``train_docs`` None): the saved copy."""
    from harness.models.tokenizer import save_tokenizer

    saved = (files.tokenizer / "tokenizer_config.json").is_file()
    if train_docs is None and not saved:
        raise FileNotFoundError(f"{files.tokenizer}: no tokenizer saved; run rcp-train first")
    if train_docs is not None:
        if dist.rank() == 0 and not saved:
            if cfg.tokenizer or not is_preset(cfg.encoder):
                tok = load_encoder_tokenizer(resolve_checkpoint(cfg.tokenizer or cfg.encoder))
            else:
                tok = train_tiny_tokenizer(train_docs)
            save_tokenizer(tok, files.tokenizer)
        dist.barrier()  # every rank, whatever it saw on disk
    return load_encoder_tokenizer(files.tokenizer)


def load_encoder_tokenizer(path):
    """A local tokenizer with the pad, cls and sep tokens an RCP sequence needs (no EOS needed, unlike the LLM's)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    missing = [k for k in ("pad_token", "cls_token", "sep_token") if getattr(tok, f"{k}_id") is None]
    if missing:
        raise ValueError(f"tokenizer at {path} has no {', '.join(missing)}: RCP needs BERT/RoBERTa-style specials")
    return tok


def build_model(cfg: RCPConfig, tok, *, encoder_config=None) -> RCPModel:
    enc = build_encoder(cfg.encoder, vocab_size=len(tok), pad_id=tok.pad_token_id, max_len=cfg.max_len,
                        dropout=cfg.dropout, seed=cfg.seed, config=encoder_config)
    start, end = special_ids(tok)
    torch.manual_seed(cfg.seed + 1)
    return RCPModel(enc, emb_size=cfg.emb_size, block_size=cfg.block_size, window=cfg.max_len, start_ids=start,
                    end_ids=end)


def load_best(cfg, files: RCPFiles, tok, device) -> RCPModel:
    """The best epoch's model of ``cfg`` (a DocREConfig) in ``files``."""
    from transformers import AutoConfig

    r = cfg.rcp
    if not files.best_model.is_file():
        raise InputError(f"{files.best_model} not found: train RCP (rcp-train) in {cfg.run_dir} first")
    state = torch.load(files.best_model, map_location="cpu", weights_only=True)
    if state.get("model_hash") != model_hash(r):
        raise InputError(f"{files.best_model} was trained under other model settings (hash {state.get('model_hash')}"
                         f", this config {model_hash(r)}); propose with the training's config ({files.config})")
    model = build_model(r, tok, encoder_config=AutoConfig.from_pretrained(str(files.encoder_config)))
    model.load_state_dict(state["model"])
    return model.to(device)


def rcp_propose(cfg, *, docs_path: str = "", name: str = "test") -> dict:
    """Tune the threshold, propose pairs for ``docs_path`` (default ``rcp.propose_file``), write
    ``candidates/<name>.jsonl`` + stats and ``threshold.json``. ``cfg``: a DocREConfig. Returns the stats."""
    r = cfg.rcp
    check(r)
    files, device = RCPFiles(cfg.run_dir), dist.device_for()
    with input_errors():  # the documents (file, document, field) and the trained stage's files
        tok = resolve_tokenizer(r, files, None)
        _, tune = load_docs(r)
        docs = propose_docs(r, docs_path)
    model = load_best(cfg, files, tok, device)
    kw = dict(batch_docs=r.eval_batch_docs, pad_id=tok.pad_token_id, device=device)
    tune_feats = featurize_all(tune, tok, r.max_doc_len)
    tune_probs = np.concatenate(prop.predict(model, tune_feats, **kw) or [np.zeros(0)])
    tune_y = np.asarray([v for f in tune_feats for v in f.labels])
    thr = prop.tune_threshold(tune_probs, tune_y, r.threshold_mode, recall_target=r.recall_target,
                              fixed=r.threshold)
    strict = prop.strict_for(r.threshold_mode)
    feats = featurize_all(docs, tok, r.max_doc_len)
    t0 = time.perf_counter()
    probs = prop.predict(model, feats, **kw)
    seconds = time.perf_counter() - t0
    stats = prop.proposal_stats(feats, probs, thr, labelled=any(d.facts for d in docs), strict=strict)
    stats.update(predict_s=seconds, docs_per_s=len(feats) / seconds if seconds > 0 else 0.0)  # forward only
    stats.update(source=str(docs_path or data_path(r.propose_file, "redocred/test_revised.json")), name=name)
    if dist.rank() == 0:
        atomic_write_json(files.threshold, {"mode": r.threshold_mode, "recall_target": r.recall_target,
                                            "threshold": thr, "strict": strict,
                                            "tuning": prop.detection(tune_probs, tune_y, thr, strict)})
        atomic_write_jsonl(files.candidates(name), prop.candidate_rows(feats, probs, thr, strict))
        atomic_write_json(files.candidate_stats(name), stats)
    log.info(f"rcp-propose {name}: P(related) {'>' if strict else '>='} {thr:.4f} ({r.threshold_mode}), "
             f"{stats['proposed_pairs']} of "
             f"{stats['candidate_pairs']} pairs kept ({stats['kept_fraction']:.1%})"
             + (f", recall of related pairs {stats['related_recall']:.4f}" if "related_recall" in stats else ""))
    return stats
