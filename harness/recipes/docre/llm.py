"""The LLM of LMRC's relation-classification stage: fine-tuning on gold pairs through the harness's Trainer, and
greedy decoding of prompts sharded over ranks.

How a document prompt fits the harness's examples: the Trainer trains on ``Example``s rendered by a ``Template``;
here each prompt (harness.recipes.docre.prompts) becomes one Example whose ``text`` is the whole prompt and whose
``label`` is the gold answer, and the template ``docre`` is the bare ``{sentence}`` with no label prefix (the
prompt already ends with '### Response:\\n'). The canonical tokenisation (harness.data.tokenize) then gives
prompt ids (masked, -100) + answer ids + EOS, so the loss is on the answer tokens only; head / tail / spans are
unused (empty). The label space is the relation names (only the tiny presets' tokenizer reads it).

LoRA (``lora.r > 0``): adapters are injected into the Hugging Face model in place (peft.inject_adapter_in_model,
so the model keeps its class and the harness's loss still finds its body and LM head), every other parameter is
frozen, the engine optimises the adapters only; the export merges them into the base weights (a plain HF folder).
Works with the plain-torch engine (one process) and under DeepSpeed ZeRO-2 (checked by hand at 2 ranks on the
crafted fixture: step losses equal plain torch's at the same global batch to 1e-5, and the merged export predicts);
ZeRO-3 + LoRA is refused (the merge reads full weights on rank 0, ZeRO-3 partitions them).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from harness import dist, log
from harness.config import DataConfig, RunConfig
from harness.data.dataset import Splits
from harness.data.examples import Example
from harness.data.labels import LabelSpace
from harness.data.prompts import Template
from harness.eval.batches import sharded_batches
from harness.eval.generate import greedy_texts
from harness.recipes.docre.prompts import Prompt
from harness.run import atomic_write_dir
from harness.train.sft import SFTObjective
from harness.train.trainer import run

TEMPLATE = Template("docre", "{sentence}", "")  # the prompt is the whole text; the answer follows it directly


def prompt_example(p: Prompt, split: str) -> Example:
    return Example(id=f"docre:{split}:{p.id}", text=p.text, head="", tail="", head_span=(0, 0), tail_span=(0, 0),
                   label=p.answer or "", split=split)


def prompt_splits(train: list[Prompt], relations: dict[str, str], info: dict) -> Splits:
    """The Trainer's input: training prompts as examples (no dev/test: the stage evaluates by decoding)."""
    if not train:
        raise ValueError("no training prompts: the training documents have no gold facts")
    space = LabelSpace("docred", tuple(relations.values()))
    return Splits([prompt_example(p, "train") for p in train], [], [], space, TEMPLATE, info)


def run_config(cfg, llm_dir: Path, train_file: str) -> RunConfig:
    """The harness RunConfig of the Trainer (its run folder is the stage's llm/ folder; no label-ranking eval)."""
    if cfg.train.eval_split:
        log.info("docre: train.eval_split is ignored (the stage evaluates by decoding: docre predict)")
    return RunConfig(run_dir=str(llm_dir), data=DataConfig(dataset="docre", data_dir=train_file, template="docre"),
                     model=cfg.model, train=dataclasses.replace(cfg.train, eval_split=""))


def inject_lora(model, lora) -> torch.nn.Module:
    """LoRA adapters into ``model`` in place; everything else frozen."""
    from peft import LoraConfig, inject_adapter_in_model

    targets = [t.strip() for t in lora.target_modules.split(",") if t.strip()]
    conf = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
                      bias="none")
    model = inject_adapter_in_model(conf, model)
    for name, p in model.named_parameters():
        p.requires_grad_("lora_" in name)
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info(f"LoRA r={lora.r} alpha={lora.alpha} on {targets}: {n_train} trainable parameters")
    return model


def merge_lora(model) -> torch.nn.Module:
    """Fold every LoRA layer into its base layer and put the base layer back (a plain HF model again)."""
    from peft.tuners.lora import LoraLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, module.get_base_layer())
    return model


class DocREObjective(SFTObjective):
    """Weighted CE on the prompts (harness.train.sft) with LoRA adapters injected between model construction and
    the engine, and the merged export when adapters are trained."""

    def __init__(self, cfg: RunConfig, *, splits: Splits, lora=None):
        super().__init__(cfg, splits=splits)
        self.lora = lora

    def build_model(self, trainer):
        model, keep = super().build_model(trainer)
        if self.lora is None or self.lora.r <= 0:
            return model, keep
        ds = trainer.ds_config
        if ds is not None and ds.get("zero_optimization", {}).get("stage", 0) == 3:
            raise ValueError("lora.r > 0 under ZeRO-3 is not supported (the merged export needs the full weights); "
                             "use a ZeRO-0/1/2 DeepSpeed config or full fine-tuning (lora.r=0)")
        return inject_lora(model, self.lora), keep

    def export(self, trainer):
        if self.lora is None or self.lora.r <= 0:
            return super().export(trainer)
        return export_merged(trainer.engine.model, self.tok, self.files.export)


def export_merged(model, tokenizer, out_dir: Path) -> Path | None:
    """Rank 0 writes the LoRA-merged model (one process: the plain engine) as a Hugging Face folder."""
    path = None
    if dist.rank() == 0:
        merged = merge_lora(model)

        def write(tmp: Path) -> None:
            merged.save_pretrained(str(tmp), safe_serialization=True)
            tokenizer.save_pretrained(str(tmp))

        path = atomic_write_dir(out_dir, write)
    dist.barrier()
    return path


def train_llm(cfg, splits: Splits, llm_dir: Path, ds_path=None, *, resume: bool = False,
              overwrite: bool = False) -> dict:
    """Fine-tune model.large on the prompts of ``splits``; returns the Trainer's summary (export_dir: the HF
    folder predict reads)."""
    rc = run_config(cfg, llm_dir, splits.info.get("train_file", ""))
    lora = cfg.lora if cfg.lora.r > 0 else None
    out = run(DocREObjective(rc, splits=splits, lora=lora), ds_path, resume=resume, overwrite=overwrite)
    out.pop("engine")  # the engine goes before any process group does (harness.dist.destroy)
    return out


def generate(model, tokenizer, prompts: list[Prompt], *, batch_examples: int, max_new_tokens: int) -> list[str]:
    """Greedy continuations of every prompt (every rank gets all; shards by rank, longest prompts batched
    together). Deterministic: no sampling, one beam."""
    if not prompts:
        return []
    ids = [list(x) for x in tokenizer([p.text for p in prompts], add_special_tokens=False)["input_ids"]]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def run(idx: list[int]) -> list[str]:
        return greedy_texts(model, tokenizer, [ids[i] for i in idx], pad_id=pad, max_new_tokens=max_new_tokens)

    merged: dict[int, str] = {}
    for idx, texts in sharded_batches(model, len(prompts), batch_examples, run, order=lambda i: -len(ids[i])):
        merged.update(zip(idx, texts))
    return [merged[i] for i in range(len(prompts))]
