"""The LLM stage's steps behind `python -m harness docre` (prompts, train, predict, docred-score, pipeline) and its run folder.

    <run_dir>/
      docre_config.json                 the resolved DocREConfig of the last train-llm / predict
      prompts/{train,eval}.<name>.jsonl prompt records (id, title, doc, chunk, pairs, prompt, answer) for inspection
      rcp/                              the RCP stage's folder (harness.recipes.docre.rcp.config.RCPFiles: its
                                        candidates/<name>.jsonl is what an lmrc predict takes as --candidates)
      llm/                              the Trainer's run folder (harness.run.RunDir: config.json, checkpoints/,
                                        metrics.jsonl, export/ = the fine-tuned HF model predict loads)
      predict/<name>.generations.jsonl  per prompt: id, title, doc, chunk, pairs, generated text
      predict/<name>.predictions.json   the official submission: [{title, h_idx, t_idx, r}]
      predict/<name>.eval.json          official scores + the parser's drop counts (prompts.style=binary: the
                                        related-pair detection figures + the answer drop counts)
      predict/<name>.candidates.jsonl   prompts.style=binary only: the Yes pairs as a candidates file (RCP contract)
``<name>`` is the document file's stem (test_revised, dev_revised, ...). Only this class joins these names (the
lead folds it into harness/run.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness import dist, log
from harness.manifest import git_revision
from harness.recipes.docre.config import DataPaths, DocREConfig, resolve_paths
from harness.recipes.docre.evaluate import official_scores, read_facts, summary_rows
from harness.recipes.docre.pairs import gold_pairs, pairs_for
from harness.recipes.docre.parse import parse_outputs
from harness.recipes.docre.prompts import Prompt, build_prompts, check_style
from harness.recipes.docre.reader import read_docred, read_rel_info
from harness.recipes.docre.types import Document
from harness.run import Files, RunDir, atomic_write_json, atomic_write_jsonl


class DocREFiles(Files):
    """Paths of the LLM stage's run folder (its training run is the ``TrainFiles`` of ``llm/``)."""

    config = property(lambda self: self.root / "docre_config.json")
    llm = property(lambda self: self.root / "llm")
    export = property(lambda self: RunDir(self.llm).export)

    def prompts(self, name: str) -> Path:
        return self.root / "prompts" / f"{name}.jsonl"

    def generations(self, name: str) -> Path:
        return self.root / "predict" / f"{name}.generations.jsonl"

    def predictions(self, name: str) -> Path:
        return self.root / "predict" / f"{name}.predictions.json"

    def eval_json(self, name: str) -> Path:
        return self.root / "predict" / f"{name}.eval.json"

    def candidates(self, name: str) -> Path:
        return self.root / "predict" / f"{name}.candidates.jsonl"


@dataclass
class Inputs:
    paths: DataPaths
    relations: dict[str, str]
    train: list[Document]
    eval: list[Document]

    @property
    def eval_name(self) -> str:
        return self.paths.eval.stem


def _cap(docs: list, n: int) -> list:
    if n < 0:
        raise ValueError(f"data.max_*_docs must be >= 0 (0 = all), got {n}")
    return docs[:n] if n else docs


def load_inputs(cfg: DocREConfig, *, train: bool = True) -> Inputs:
    """The relation names and the (capped) training / evaluation documents, checked by the reader."""
    check_style(cfg.prompts.style)
    paths = resolve_paths(cfg.data)
    rel = read_rel_info(paths.rel_info)
    tr = _cap(read_docred(paths.train, rel), cfg.data.max_train_docs) if train else []
    ev = _cap(read_docred(paths.eval, rel), cfg.data.max_eval_docs)
    return Inputs(paths, rel, tr, ev)


def training_prompts(cfg: DocREConfig, inputs: Inputs) -> list[Prompt]:
    """The training data: style lmrc (LMRC's RC stage) asks each document's gold related pairs, answers = their
    gold triples; extract and binary ask every ordered pair (config module doc)."""
    style = check_style(cfg.prompts.style)
    pairs = [gold_pairs(d) if style == "lmrc" else d.candidate_pairs() for d in inputs.train]
    return build_prompts(inputs.train, pairs, inputs.relations, pairs_per_prompt=cfg.prompts.pairs_per_prompt,
                         with_answer=True, style=style)


def candidates_spec(cfg: DocREConfig, override: str = "") -> str:
    """The pairs asked at prediction: --candidates, else prompts.candidates, else the style's own (gold for lmrc,
    all for extract and binary). ``rcp:<name>`` is this run folder's RCP candidates file (what ``rcp-propose
    --name <name>`` wrote: <run_dir>/rcp/candidates/<name>.jsonl), so a config holds no run-folder path."""
    from harness.recipes.docre.rcp.config import RCPFiles

    style = check_style(cfg.prompts.style)
    spec = override or cfg.prompts.candidates or ("gold" if style == "lmrc" else "all")
    if spec.startswith("rcp:"):
        if not spec[4:]:
            raise ValueError("candidates 'rcp:<name>' needs the name rcp-propose --name wrote (e.g. rcp:test)")
        return str(RCPFiles(cfg.run_dir).candidates(spec[4:]))
    return spec


def eval_prompts(cfg: DocREConfig, inputs: Inputs, candidates: str = "") -> list[Prompt]:
    """Prompts over the evaluation documents' candidate pairs (``candidates_spec``; gold answers attached for
    inspection only)."""
    pairs = pairs_for(candidates_spec(cfg, candidates), inputs.eval, prefix=bool(cfg.data.max_eval_docs))
    return build_prompts(inputs.eval, pairs, inputs.relations, pairs_per_prompt=cfg.prompts.pairs_per_prompt,
                         with_answer=True, style=cfg.prompts.style)


def write_prompts(path: Path, prompts: list[Prompt]) -> Path:
    return atomic_write_jsonl(path, (p.to_json() for p in prompts))


def train_stage(cfg: DocREConfig, inputs: Inputs, ds_path=None, *, resume: bool = False,
                overwrite: bool = False) -> dict:
    """Fine-tune the LLM on the training documents' gold-pair prompts (the Trainer's summary)."""
    from harness.recipes.docre.llm import prompt_splits, train_llm

    files = DocREFiles(cfg.run_dir)
    if resume:
        check_resume_config(files, cfg)
    prompts = training_prompts(cfg, inputs)
    log.info(f"docre train-llm: {len(inputs.train)} documents -> {len(prompts)} prompts "
             f"(pairs_per_prompt={cfg.prompts.pairs_per_prompt or 'all'}) from {inputs.paths.train}")
    if dist.rank() == 0:
        atomic_write_json(files.config, cfg.to_dict())
        write_prompts(files.prompts(f"train.{inputs.paths.train.stem}"), prompts)
    splits = prompt_splits(prompts, inputs.relations, {"train_file": str(inputs.paths.train)})
    return train_llm(cfg, splits, files.llm, ds_path, resume=resume, overwrite=overwrite)


RESUME_SECTIONS = ("data", "prompts", "lora")  # what shapes the training prompts and the model beyond model/train


def check_resume_config(files: DocREFiles, cfg: DocREConfig) -> None:
    """A resumed train-llm must build the same prompts and adapters as the run it continues (the Trainer itself
    checks model.* and train.*)."""
    from harness.config import settings
    from harness.manifest import read_json
    from harness.runstate import check_settings

    if not files.config.is_file():
        return  # the Trainer says there is nothing to resume
    old = read_json(files.config, "stage config")
    check_settings(settings(old, RESUME_SECTIONS, cls=DocREConfig), settings(cfg, RESUME_SECTIONS),
                   where=files.config, what="was written with other settings",
                   way_out="resume with the run's own settings, or start over with --overwrite")


def load_llm(cfg: DocREConfig, model_dir: Path):
    """(model, tokenizer) of a fine-tuned Hugging Face folder (the stage's export by default)."""
    from harness.models.load import build_model
    from harness.models.tokenizer import load_tokenizer

    if not (Path(model_dir) / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir}: no config.json: not a Hugging Face model folder (run train-llm "
                                "first, or pass --model)")
    tok = load_tokenizer(model_dir)
    model = build_model(str(model_dir), vocab_size=len(tok), dtype=cfg.model.dtype, device=dist.device_for(),
                        attn_impl=cfg.model.attn_impl, pad_id=tok.pad_token_id, eos_id=tok.eos_token_id)
    return model, tok


def predict_stage(cfg: DocREConfig, inputs: Inputs, prompts: list[Prompt], model, tokenizer,
                  model_dir: str = "") -> dict | None:
    """Decode every prompt (sharded over ranks), parse, write generations / predictions / eval (rank 0), return
    the eval record (None on other ranks)."""
    from harness.recipes.docre.llm import generate

    files, name, dc = DocREFiles(cfg.run_dir), inputs.eval_name, cfg.decode
    aligner = relation_aligner(cfg, inputs.relations) if dist.rank() == 0 else None  # before decoding: fail early
    texts = generate(model, tokenizer, prompts, batch_examples=dc.batch_examples, max_new_tokens=dc.max_new_tokens)
    if dist.rank() != 0:
        return None
    atomic_write_jsonl(files.generations(name), ({**p.to_json(), "prompt": None, "generation": t}
                                                 for p, t in zip(prompts, texts)))
    if cfg.prompts.style == "binary":
        return binary_stage(cfg, inputs, prompts, texts, model_dir)
    parsed = parse_outputs([(p.doc, p.pairs, t) for p, t in zip(prompts, texts)], inputs.eval, inputs.relations,
                           only_asked=dc.only_asked_pairs, threshold=dc.fuzzy_threshold,
                           aligner=aligner)
    atomic_write_json(files.predictions(name), parsed.predictions)
    res = evaluate_stage(cfg, inputs, parsed.predictions)
    res["parse"] = parsed.report()
    res.update(n_prompts=len(prompts), model=str(model_dir), config=cfg.to_dict(), git_revision=git_revision())
    atomic_write_json(files.eval_json(name), res)
    return res


def binary_stage(cfg: DocREConfig, inputs: Inputs, prompts: list[Prompt], texts: list[str],
                 model_dir: str = "") -> dict:
    """The LLM pre-classifier's predict step (rank 0): the Yes pairs -> predict/<name>.candidates.jsonl (the
    --candidates of an lmrc run), their detection figures -> predict/<name>.eval.json."""
    from harness.recipes.docre import binary

    files, name = DocREFiles(cfg.run_dir), inputs.eval_name
    rows, dropped = binary.candidates(prompts, texts, inputs.eval)
    atomic_write_jsonl(files.candidates(name), rows)
    res = {"style": "binary", "detection": binary.detection(rows, inputs.eval), "dropped": dropped,
           "candidates": str(files.candidates(name)), "gold": str(inputs.paths.eval), "n_docs": len(inputs.eval),
           "n_prompts": len(prompts), "model": str(model_dir), "config": cfg.to_dict(), "git_revision": git_revision()}
    atomic_write_json(files.eval_json(name), res)
    return res


def relation_aligner(cfg: DocREConfig, relations: dict[str, str]):
    """The decode config's sentence-embedding relation aligner, or None when ``decode.relation_align`` is 0."""
    if cfg.decode.relation_align == 0:
        return None
    from harness.recipes.docre.align import RelationAligner

    return RelationAligner(relations, cfg.decode.relation_align, cfg.decode.relation_align_model)


def evaluate_stage(cfg: DocREConfig, inputs: Inputs, predictions: list[dict]) -> dict:
    facts = read_facts(inputs.paths.facts) if inputs.paths.facts else None
    res = official_scores(predictions, inputs.eval, facts, eps=cfg.decode.ign_eps)
    res.update(gold=str(inputs.paths.eval), facts=str(inputs.paths.facts), facts_label=inputs.paths.facts_label,
               n_docs=len(inputs.eval))
    return res


def print_scores(res: dict, title: str) -> None:
    if res.get("style") == "binary":
        d = res["detection"]
        log.table(title, ["", "P", "R", "F1"], [["related pairs (F1 of RCP)",
                                                 *(100 * d[k] for k in ("precision", "recall", "f1"))]])
        return
    log.table(title, ["", "P", "R", "F1"], summary_rows(res, res.get("facts_label", "")))
