"""The RCP encoder: a local Hugging Face checkpoint (any ``AutoModel`` encoder with attentions), a checked model asset
(``minilm-l6``: harness.models.assets, a pretrained 6-layer BERT) or a tiny random-init preset, and ATLOP's two-chunk encoding of documents longer than the encoder's window.

Two chunks (ATLOP's ``process_long_input``). A sequence of length ``l`` (specials included) within the window ``w``
runs as it is. A longer one (``l <= 2w - s - e``, what ``max_doc_len`` allows) runs as two sequences of ``w`` tokens:
    chunk 1 = tokens [0, w - e) + end specials          (e = number of end specials)
    chunk 2 = start specials + tokens [l - w + s, l)   (s = number of start specials)
The chunks' specials are dropped and each keeps its content rows at their original positions: chunk 1 covers
[0, w - e), chunk 2 covers [l - w + s, l). Hidden states are the mean of the chunks covering a position (the
overlap [l - w + s, w - e) is averaged, the rest copied). Attention maps (heads x positions x positions) of the
two chunks are placed the same way, summed, and each row renormalised to sum to 1 (a row of the overlap then
holds both chunks' attention, halved; outside the overlap a row keeps its chunk's attention, renormalised over
the positions that chunk saw). Positions past ``l`` (padding) are zero.
"""

from __future__ import annotations

import torch

from harness.models.assets import resolve_checkpoint

POOLED_TYPES = ("bert", "roberta", "xlm-roberta")  # encoders built with a pooler unless told not to
PRESETS = {
    "tiny-roberta": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128),
    "tiny-bert": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128),
}


def is_preset(spec: str) -> bool:
    return spec in PRESETS


def preset_config(spec: str, *, vocab_size: int, pad_id: int, max_len: int, dropout: float):
    from transformers import BertConfig, RobertaConfig

    if spec not in PRESETS:
        raise ValueError(f"unknown RCP encoder preset {spec!r}; known: {sorted(PRESETS)} (or a checkpoint folder)")
    kw = dict(PRESETS[spec], vocab_size=vocab_size, pad_token_id=pad_id, hidden_dropout_prob=dropout,
              attention_probs_dropout_prob=dropout)
    if spec == "tiny-roberta":  # RoBERTa's positions start after the padding index
        return RobertaConfig(**kw, max_position_embeddings=max_len + pad_id + 1)
    return BertConfig(**kw, max_position_embeddings=max_len)


def _no_pooler(config) -> dict:
    """BERT / RoBERTa without their pooler: RCP reads token states only, and an unused pooler would get no
    gradient (a checkpoint's pooler weights are then left unloaded, which transformers reports)."""
    return {"add_pooling_layer": False} if config.model_type in POOLED_TYPES else {}


def build_encoder(spec: str, *, vocab_size: int, pad_id: int, max_len: int, dropout: float = 0.0, seed: int = 0,
                  config=None):
    """The encoder with eager attention (attention maps are needed). ``config``: rebuild from a saved config
    (the encoder of a trained RCP model, weights loaded afterwards)."""
    from transformers import AutoConfig, AutoModel

    if config is not None or is_preset(spec):
        torch.manual_seed(seed)
        cfg = config or preset_config(spec, vocab_size=vocab_size, pad_id=pad_id, max_len=max_len, dropout=dropout)
        return AutoModel.from_config(cfg, attn_implementation="eager", **_no_pooler(cfg))
    path = resolve_checkpoint(spec)
    kw = _no_pooler(AutoConfig.from_pretrained(path, local_files_only=True))
    model = AutoModel.from_pretrained(path, attn_implementation="eager", local_files_only=True, **kw)
    if model.config.max_position_embeddings < max_len:
        raise ValueError(f"encoder {spec} has {model.config.max_position_embeddings} positions, fewer than "
                         f"max_len={max_len}; lower max_len")
    return model


def encode_with(model):
    """An ``encode(ids, mask) -> (hidden [B, T, d], last-layer attention [B, H, T, T])`` around ``model``."""
    def encode(ids, mask):
        out = model(input_ids=ids, attention_mask=mask, output_attentions=True)
        return out.last_hidden_state, out.attentions[-1]
    return encode


def _chunks(ids, mask, lengths, start, end, w):
    """Each row as one or two window-sized segments; the number of segments per row."""
    seg_ids, seg_mask, n_seg = [], [], []
    for i, n in enumerate(lengths):
        if n <= w:
            seg_ids.append(ids[i, :w])
            seg_mask.append(mask[i, :w])
            n_seg.append(1)
            continue
        seg_ids += [torch.cat([ids[i, :w - len(end)], end]), torch.cat([start, ids[i, n - w + len(start):n]])]
        seg_mask += [mask[i, :w], mask[i, n - w:n]]
        n_seg.append(2)
    return torch.stack(seg_ids), torch.stack(seg_mask), n_seg


def _stitch(h1, a1, h2, a2, n, width, s, e, w):
    """One long row's hidden states and attention from its two chunks' outputs (see the module doc)."""
    d, heads = h1.shape[-1], a1.shape[0]
    hid = h1.new_zeros(width, d)
    att = a1.new_zeros(heads, width, width)
    cover = h1.new_zeros(width)
    a, b = w - e, n - w + s  # chunk 1 covers [0, a), chunk 2 covers [b, n)
    hid[:a] += h1[:a]
    hid[b:n] += h2[s:]
    cover[:a] += 1
    cover[b:n] += 1
    att[:, :a, :a] += a1[:, :a, :a]
    att[:, b:n, b:n] += a2[:, s:, s:]
    hid = hid / cover.clamp_min(1).unsqueeze(-1)
    att = att / (att.sum(-1, keepdim=True) + 1e-10)
    return hid, att


def encode_long(encode, ids, mask, start: list[int], end: list[int], window: int):
    """Hidden states [B, T, d] and last-layer attention [B, H, T, T] of a padded batch whose rows may exceed
    ``window`` (see the module doc); ``encode(ids, mask)`` runs the encoder on sequences of <= ``window`` tokens."""
    width = ids.shape[1]
    if width <= window:
        return encode(ids, mask)
    lengths = mask.sum(1).tolist()
    if max(lengths) > 2 * window - len(start) - len(end):
        raise ValueError(f"a sequence of {max(lengths)} tokens exceeds two windows of {window}")
    start_t, end_t = ids.new_tensor(start), ids.new_tensor(end)
    seg_ids, seg_mask, n_seg = _chunks(ids, mask, lengths, start_t, end_t, window)
    hid, att = encode(seg_ids, seg_mask)
    out_h, out_a, k = [], [], 0
    for n, ns in zip(lengths, n_seg):
        if ns == 1:
            pad = width - window
            out_h.append(torch.nn.functional.pad(hid[k], (0, 0, 0, pad)))
            out_a.append(torch.nn.functional.pad(att[k], (0, pad, 0, pad)))
        else:
            h, a = _stitch(hid[k], att[k], hid[k + 1], att[k + 1], n, width, len(start), len(end), window)
            out_h.append(h)
            out_a.append(a)
        k += ns
    return torch.stack(out_h), torch.stack(out_a)
