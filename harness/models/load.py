"""Model construction: local checkpoints (causal or seq2seq, decided by the config) or named tiny/shape presets.

Presets (random init, for tests and benchmarks; the vocabulary comes from the caller's tokenizer unless the
preset fixes it):
  tiny-qwen2        2 layers, hidden 64, untied head (like Qwen2-7B)
  tiny-qwen2-tied   same with a tied head (like Qwen2-0.5B/1.5B)
  tiny-qwen2-small  1 layer, hidden 32, the ATLANTIS small model for tests
  tiny-t5           2+2 layers, d_model 64, untied head (like Flan-T5)
  qwen2-0.5b-shape, qwen2-1.5b-shape, qwen2-7b-shape   the real shapes and vocabularies
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    PretrainedConfig,
    Qwen2Config,
    T5Config,
)

from harness.models import attention  # noqa: F401  (registers the sdpa_segments attention)

_QWEN_COMMON = dict(rope_theta=1_000_000.0, rms_norm_eps=1e-6, max_position_embeddings=4096, use_sliding_window=False)

PRESETS: dict[str, tuple[type, dict]] = {
    "tiny-qwen2": (Qwen2Config, dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                     num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)),
    "tiny-qwen2-tied": (Qwen2Config, dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                          num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)),
    "tiny-qwen2-small": (Qwen2Config, dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                           num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=False)),
    "tiny-t5": (T5Config, dict(d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2, num_heads=4,
                               feed_forward_proj="gated-gelu", tie_word_embeddings=False, dropout_rate=0.0)),
    "qwen2-0.5b-shape": (Qwen2Config, dict(vocab_size=151936, hidden_size=896, intermediate_size=4864,
                                           num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                                           tie_word_embeddings=True)),
    "qwen2-1.5b-shape": (Qwen2Config, dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960,
                                           num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                                           tie_word_embeddings=True)),
    "qwen2-7b-shape": (Qwen2Config, dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944,
                                         num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
                                         tie_word_embeddings=False)),
}


def is_preset(spec: str) -> bool:
    return spec in PRESETS


def preset_config(spec: str, vocab_size: int | None = None, *, pad_id: int = 0, eos_id: int = 1) -> PretrainedConfig:
    """The config of a preset; tiny presets take the tokenizer's vocabulary size."""
    if spec not in PRESETS:
        raise ValueError(f"unknown model preset {spec!r}; known: {sorted(PRESETS)} (or a local checkpoint path)")
    cls, kw = PRESETS[spec]
    kw = dict(kw)
    if "vocab_size" not in kw:
        if vocab_size is None:
            raise ValueError(f"preset {spec} needs the tokenizer's vocab_size")
        kw["vocab_size"] = vocab_size
    if cls is Qwen2Config:
        kw = {**_QWEN_COMMON, **kw}
        kw.update(pad_token_id=pad_id, eos_token_id=eos_id, bos_token_id=eos_id)
    else:
        kw.update(pad_token_id=pad_id, eos_token_id=eos_id, decoder_start_token_id=pad_id)
    return cls(**kw)


def family_of(config: PretrainedConfig) -> str:
    """``seq2seq`` for encoder-decoder configs, else ``causal``."""
    return "seq2seq" if getattr(config, "is_encoder_decoder", False) else "causal"


def resolve_config(spec: str, vocab_size: int | None = None, **ids) -> PretrainedConfig:
    if is_preset(spec):
        return preset_config(spec, vocab_size, **ids)
    path = Path(spec)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"model {spec!r}: neither a preset ({sorted(PRESETS)}) nor a checkpoint "
                                f"folder with config.json")
    return AutoConfig.from_pretrained(str(path), local_files_only=True)


DTYPE_ALIASES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
                 "float16": "float16", "fp16": "float16"}


def canonical_dtype(name: str) -> str:
    """float32 | bfloat16 | float16 for any of DTYPE_ALIASES (model.dtype's spellings)."""
    if name not in DTYPE_ALIASES:
        raise ValueError(f"model.dtype={name!r}: expected auto or one of {sorted(DTYPE_ALIASES)}")
    return DTYPE_ALIASES[name]


def pick_dtype(name: str, device: torch.device | str) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32
    return getattr(torch, canonical_dtype(name))


def pick_attn(name: str, device: torch.device | str) -> str:
    """flash_attention_2 when installed and on CUDA (auto), else SDPA."""
    if name != "auto":
        return name
    if torch.device(device).type == "cuda":
        try:
            import flash_attn  # noqa: F401

            return "flash_attention_2"
        except ImportError:
            pass
    return "sdpa"


def auto_class(config: PretrainedConfig):
    return AutoModelForSeq2SeqLM if family_of(config) == "seq2seq" else AutoModelForCausalLM


def build_model(spec: str, *, vocab_size: int | None = None, dtype: str = "auto", device="cpu",
                attn_impl: str = "auto", seed: int = 0, quantize: str = "", pad_id: int = 0, eos_id: int = 1):
    """A model from a preset (random init under ``seed``) or a local checkpoint. ``quantize`` (8bit/4bit)
    loads a frozen checkpoint through bitsandbytes."""
    config = resolve_config(spec, vocab_size, pad_id=pad_id, eos_id=eos_id)
    torch_dtype = pick_dtype(dtype, device)
    attn = pick_attn(attn_impl, device)
    cls = auto_class(config)
    if is_preset(spec):
        if quantize:
            raise ValueError("quantize applies to checkpoints only (presets are random-initialised)")
        torch.manual_seed(seed)
        # built where it will run: a 7B-shape random init on the CPU then moved costs ~1 min per process
        where = torch.device(device) if torch.device(device).type != "cpu" else contextlib.nullcontext()
        with where:
            model = cls.from_config(config, attn_implementation=attn, dtype=torch_dtype)
    else:
        kw = dict(attn_implementation=attn, dtype=torch_dtype, local_files_only=True)
        if quantize:
            from transformers import BitsAndBytesConfig

            q = {"8bit": BitsAndBytesConfig(load_in_8bit=True),
                 "4bit": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                            bnb_4bit_compute_dtype=torch_dtype)}
            if quantize not in q:
                raise ValueError(f"quantize must be '', '8bit' or '4bit', got {quantize!r}")
            kw.update(quantization_config=q[quantize], device_map={"": str(device)})
        model = cls.from_pretrained(spec, **kw)
    if not quantize:
        model.to(device)
    return model


def model_identity(spec: str, config: PretrainedConfig) -> dict:
    """What a manifest records of a model: the spec (path or preset) and a hash of its config."""
    cfg = config.to_dict()
    for k in ("_name_or_path", "transformers_version", "torch_dtype", "dtype", "_attn_implementation",
              "_attn_implementation_internal"):
        cfg.pop(k, None)
    h = hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return {"spec": str(spec), "config_hash": h, "family": family_of(config)}
