"""Export a consolidated Hugging Face model directory (safetensors + tokenizer) from the live engine or from
any checkpoint (ZeRO partitions consolidated with DeepSpeed's zero_to_fp32)."""

from __future__ import annotations

from pathlib import Path

import torch

from harness import dist
from harness.run import atomic_write_dir


def _write_dir(model, state_dict: dict, tokenizer, out_dir: Path) -> Path:
    def write(tmp: Path) -> None:
        model.save_pretrained(str(tmp), state_dict=state_dict, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(str(tmp))

    return atomic_write_dir(out_dir, write)


def export_live(engine, tokenizer, out_dir: str | Path) -> Path | None:
    """Collective (all ranks): gather the full weights, rank 0 writes ``out_dir``."""
    sd = engine.state_dict_for_export()
    path = None
    if dist.rank() == 0:
        sd = {k: v.detach().cpu().contiguous() for k, v in sd.items()}
        path = _write_dir(engine.model, sd, tokenizer, Path(out_dir))
    dist.barrier()
    return path


def export_checkpoint(ckpt_dir: str | Path, out_dir: str | Path, *, tag: str | None = None) -> Path:
    """Single process: consolidate checkpoint ``ckpt_dir`` (a run's ``checkpoints`` folder; ``tag`` defaults to
    its ``latest``) into a Hugging Face directory."""
    from transformers import AutoConfig

    from harness.models.load import auto_class
    from harness.models.tokenizer import load_tokenizer
    from harness.train.checkpoint import latest_tag

    root = Path(ckpt_dir)
    tag = tag or latest_tag(root)
    if not (root / "hf_config" / "config.json").is_file():
        raise FileNotFoundError(f"{root}/hf_config/config.json missing: not a harness checkpoint folder")
    config = AutoConfig.from_pretrained(str(root / "hf_config"), local_files_only=True)
    plain = root / tag / "plain_state.pt"
    if plain.is_file():
        sd = torch.load(plain, weights_only=False)["model"]
    else:
        from harness.train import deepspeed_api

        full = deepspeed_api.get_fp32_state_dict_from_zero_checkpoint(str(root), tag=tag)
        sd = {k[len("model."):]: v for k, v in full.items() if k.startswith("model.")}
    model = auto_class(config).from_config(config)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    tied = set(getattr(model, "_tied_weights_keys", None) or [])
    missing = [k for k in missing if k not in tied and not (config.tie_word_embeddings and "lm_head" in k)]
    if missing or unexpected:
        raise ValueError(f"checkpoint {root / tag} does not fit the model config: missing {missing}, "
                         f"unexpected {unexpected}")
    if getattr(config, "tie_word_embeddings", False):
        model.tie_weights()
    tok_dir = root / "tokenizer"
    tok = load_tokenizer(tok_dir) if tok_dir.is_dir() else None
    return _write_dir(model, {k: v.contiguous() for k, v in model.state_dict().items()}, tok, Path(out_dir))
