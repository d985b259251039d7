"""A small deterministic byte-level BPE tokenizer trained locally (no hub), loadable through AutoTokenizer."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from harness.data.markers import MARKER_TAGS
from harness.run import atomic_write_dir

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"
MARKERS = list(MARKER_TAGS)  # entity markers, one added token each (defined in harness.data.markers)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """Byte-level BPE over ``texts`` (order matters for determinism). pad=0, eos=1, unk=2; entity markers
    are single added tokens."""
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, EOS, UNK],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS, unk_token=UNK)
    fast.add_tokens(MARKERS)
    return fast


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerFast:
    """The tokenizer of a local checkpoint (or one saved by ``save_tokenizer``). Pad falls back to EOS."""
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if tok.eos_token_id is None:
        raise ValueError(f"tokenizer at {path} has no EOS token; the label target needs one")
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def save_tokenizer(tok, path: str | Path) -> None:
    """Save atomically (a temporary folder, then renamed over ``path``)."""
    atomic_write_dir(path, lambda tmp: tok.save_pretrained(str(tmp)))


def resolve_tokenizer(model_cfg, texts: list[str], cache_dir: str | Path, *, vocab_size: int = 1024):
    """The run's one tokenizer, shared by every model of the run (ATLANTIS compares their label likelihoods):

    1. ``model_cfg.tokenizer`` when set (a local path);
    2. else the large model's checkpoint folder when it is a path;
    3. else (tiny presets) ``cache_dir`` if a tokenizer was saved there, else one trained on ``texts`` (in order,
       deterministic) and saved to ``cache_dir`` so later stages and ranks load the same one.
    """
    from harness.models.load import is_preset

    if model_cfg.tokenizer:
        return load_tokenizer(model_cfg.tokenizer)
    if not is_preset(model_cfg.large):
        return load_tokenizer(model_cfg.large)
    cache_dir = Path(cache_dir)
    if (cache_dir / "tokenizer_config.json").is_file():
        return load_tokenizer(cache_dir)
    tok = train_tokenizer(texts, vocab_size)
    save_tokenizer(tok, cache_dir)
    return load_tokenizer(cache_dir)


def tokenizer_texts(splits) -> list[str]:
    """The corpus a preset run's tokenizer is trained on: the rendered training prompts, then the label names."""
    return [splits.template.render(ex) for ex in splits.train] + list(splits.label_space.labels)


def shared_tokenizer(model_cfg, texts: list[str], cache_dir: str | Path):
    """``resolve_tokenizer`` for a (possibly distributed) stage: rank 0 trains or loads it first, the other
    ranks load what rank 0 saved, so every stage and rank of a run shares one tokenizer (collective)."""
    from harness import dist

    tok = resolve_tokenizer(model_cfg, texts, cache_dir) if dist.rank() == 0 else None
    dist.barrier()
    return tok if tok is not None else resolve_tokenizer(model_cfg, texts, cache_dir)


def run_tokenizer(model_cfg, splits, cache_dir: str | Path):
    """``shared_tokenizer`` on the corpus of a run's splits (``tokenizer_texts``)."""
    return shared_tokenizer(model_cfg, tokenizer_texts(splits), cache_dir)
