"""A row -> the command lines that run it (``plan_row``: a pure function of the row and the ``Context``).

Every step is ``python -m harness <recipe> <command> ...`` (the ``argv`` after ``-m harness``), run in a process of
its own by harness.recipes.tables.runner; ``done`` is the file whose existence means the step finished (a rerun
skips it when the same command line made it, recorded by the runner, so an interrupted table resumes). Steps are named by what they compute, not by the row asking for them,
so rows that need the same work share it (LMRC-13B's trained LLM serves Tables 3a, 4 and 5; the RCP model serves
both LMRC rows of a corpus): the runner runs each distinct step once.

``needs`` lists what the row cannot run without, one line each: a checkpoint role with no --ckpt (never under
--smoke, where each role is its tiny preset), a data file, or a flag / config field this checkout lacks
(``Requirement``; the runner checks files and requirements, this module only lists them).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from harness.cli import InputError
from harness.recipes.tables.specs import DATA, DATA_DIRS, DOCRE, ROLES, Row, Table

# --smoke: tiny sizes, one epoch (on top of the row's own settings, which stay)
SMOKE_ATLANTIS = ["data.max_train_examples=32", "data.max_eval_examples=8", "train.epochs=1",
                  "scoring.tokens_per_batch=2048", "eval.max_new_tokens=8"]
SMOKE_QA4RE = ["data.max_eval_examples=8"]
SMOKE_DOCRE = ["data.max_train_docs=2", "data.max_eval_docs=2", "train.epochs=1", "train.warmup_steps=0",
               "decode.max_new_tokens=8"]
SMOKE_PAIRS = {"extract": 40, "binary": 40, "lmrc": 4}  # pairs per prompt: enough prompts for one global batch
SMOKE_RCP = ["rcp.max_docs=4", "rcp.epochs=1", "rcp.emb_size=16", "rcp.block_size=4", "rcp.max_len=128",
             "rcp.max_doc_len=252"]
SMOKE_GEN = ["gen.samples_per_relation=1", "gen.max_steps=1", "gen.max_new_tokens=12", "gen.seed_gold=1",
             "gen.gold_per_relation=2"]  # tiny random generators write few valid samples: gold ones keep the RE set
SMOKE_RE = ["train.epochs=1", "train.micro_batch=2", "data.max_train_examples=16", "data.max_eval_examples=8",
            "train.eval_split="]
SMOKE_DPO = ("--smoke stops after gen pairs: a tiny random generator writes no valid sample, so no preference pair "
             "forms and dpo train refuses the empty file; the DPO training, generation and RE steps need a real "
             "generator")
DPO_PAIR_CANDIDATES = 2  # gen.candidates_per_step of the run whose candidates give the DPO pairs


@dataclass(frozen=True)
class Requirement:
    """Something of this checkout the row's command lines use (a command's flag, a config field, a value of a
    module's tuple, a repository file): checked before anything runs, so a row written against another helper's
    spelling says what it needs instead of failing midway."""
    what: str  # "flag" | "field" | "value" | "file"
    where: str  # "qa4re eval" | "DocREConfig" | "harness.recipes.docre.prompts:STYLES" | "the repository"
    name: str  # "--prompting" | "prompts.style" | "binary" | "examples/lmrc_docred_paper.json"

    def line(self) -> str:
        return {"flag": f"needs the flag {self.name} of `python -m harness {self.where}`",
                "field": f"needs the config field {self.name} of {self.where}",
                "value": f"needs {self.name!r} in {self.where}",
                "file": f"needs {self.name} in {self.where}"}[self.what]


@dataclass(frozen=True)
class Step:
    name: str  # unique per computation (runner: run once)
    argv: tuple[str, ...]  # after `python -m harness`
    done: str  # this file exists once the step has finished
    launch: bool = False  # True: start it under the multi-process launcher (--nproc), else plain python


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    outputs: dict  # what measure reads: name -> path
    needs: tuple[str, ...] = ()  # checkpoint roles missing (one line each)
    roles: tuple[str, ...] = ()  # every checkpoint role the row uses
    files: tuple[str, ...] = ()  # data files the row reads (absolute)
    requires: tuple[Requirement, ...] = field(default_factory=tuple)
    partial: str = ""  # set: the steps are only the first part of the row (--smoke), this line says why


@dataclass(frozen=True)
class Context:
    run_dir: Path  # every row's folders go under it
    data_dir: Path  # the data folder (layout: specs.DATA)
    ckpts: dict  # role -> checkpoint path
    smoke: bool = False  # presets for checkpoints, tiny sizes
    nproc: int = 1  # processes per training stage (global batches are held at the paper's)
    ds: str = ""  # DeepSpeed config of the training stages ("" = the commands' own default)
    tokenizer: str = ""  # --smoke: the one tiny tokenizer every preset shares


def _sets(pairs) -> list[str]:
    return [a for s in pairs for a in ("--set", str(s))]


def _model(ctx: Context, role: str, needs: list[str]) -> str:
    needs.append(role)  # _plan turns the list into Plan.roles and the missing ones into Plan.needs
    if ctx.smoke:
        return ROLES[role].smoke
    if role not in ctx.ckpts:
        return f"<{role}>"
    return str(ctx.ckpts[role])


def _accum(batch: int, micro: int, nproc: int, what: str) -> int:
    if batch % (micro * nproc):
        raise InputError(f"--nproc {nproc}: {what}'s batch {batch} is not a multiple of micro-batch {micro} x "
                         f"{nproc} processes; choose --nproc dividing {batch // micro}")
    return batch // (micro * nproc)


def _files(ctx: Context, names) -> tuple[str, ...]:
    return tuple(str(ctx.data_dir / n) for n in names)


def plan_row(table: Table, row: Row, ctx: Context) -> Plan:
    """The command lines of ``row`` (see the module doc)."""
    plan = {"atlantis": _atlantis, "qa4re": _qa4re, "docre": _docre, "gen": _gen}[row.kind](table, row, ctx)
    roles = tuple(dict.fromkeys(plan.needs))
    needs = () if ctx.smoke else tuple(f"needs --ckpt {r}=PATH ({ROLES[r].what})" for r in roles if r not in ctx.ckpts)
    return dataclasses.replace(plan, needs=needs, roles=roles)


# ---- ATLANTIS: one `atlantis experiment` per row -------------------------------------------------------------------
def _atlantis(table: Table, row: Row, ctx: Context) -> Plan:
    o, needs = row.opts, []
    run = ctx.run_dir / table.id / row.id
    large, small, ref = (_model(ctx, o[k], needs) for k in ("large", "small", "reference"))
    accum = _accum(o["batch"], o["micro_batch"], ctx.nproc, f"{table.id}/{row.id}")
    argv = ["atlantis", "experiment", "--run-dir", str(run), "--dataset", o["dataset"], "--data-dir",
            str(ctx.data_dir / DATA_DIRS[o["dataset"]]), "--large", large, "--small", small, "--reference", ref,
            "--nproc", str(ctx.nproc)]
    if o.get("noise") is not None:
        argv += ["--noise", str(o["noise"])]
    if ctx.ds:
        argv += ["--ds", ctx.ds]
    sets = [f"data.label_space={o['label_space']}", f"train.epochs={o['epochs']}", f"train.lr={o['lr']}",
            f"train.micro_batch={o['micro_batch']}", f"train.grad_accum={accum}", "eval.method=generate",
            "train.eval_split=test"]  # the report's learning curves are per epoch on test (the experiment plots
    #   test); evaluations during training select nothing (the final model is exported)
    if ctx.smoke:
        sets += SMOKE_ATLANTIS + [f"model.tokenizer={ctx.tokenizer}"]
    step = Step(f"{table.id}/{row.id}", tuple(argv + _sets(sets)), str(run / "summary.json"))
    return Plan((step,), {"summary": str(run / "summary.json")}, needs=tuple(needs),
                files=_files(ctx, DATA[o["dataset"]]))


# ---- QA4RE: `qa4re eval` on the test split --------------------------------------------------------------------------
def _qa4re(table: Table, row: Row, ctx: Context) -> Plan:
    o, needs = row.opts, []
    run = ctx.run_dir / "qa4re" / row.id
    model = _model(ctx, "flan-t5-xxl", needs)
    data = o["data"]
    sets = [f"run_dir={run}", f"data.dataset={'semeval' if data == 'semeval' else 'tacred'}",
            f"data.data_dir={ctx.data_dir / DATA_DIRS[data]}"]
    if data == "retacred":
        sets.append("data.label_space=retacred")
    if data == "semeval":
        sets.append("data.label_space=semeval19")  # QA4RE's SemEval templates are directional (the 19 labels)
    if ctx.smoke:
        sets += SMOKE_QA4RE + [f"model.tokenizer={ctx.tokenizer}"]
    argv = ["qa4re", "eval", "--model", model, "--split", "test", "--prompting", o["prompting"], "--subset",
            "reference", *_sets(sets)]
    metrics = run / "qa4re" / "test.metrics.json"
    reqs = (Requirement("flag", "qa4re eval", "--prompting"), Requirement("flag", "qa4re eval", "--subset"))
    return Plan((Step(f"qa4re/{row.id}", tuple(argv), str(metrics), launch=True),), {"metrics": str(metrics)},
                needs=tuple(needs), files=_files(ctx, DATA[data]), requires=reqs)


# ---- LMRC: docre train / predict, rcp-train / rcp-propose ----------------------------------------------------------
# The paper's settings (Tables 6-7) are the docre recipe's own example configs; a row overrides only paths, the
# model, the per-process batch and (--smoke) the sizes. LLM stage: config by prompt style; RCP: the paper config.
DOCRE_CONFIGS = {"extract": "examples/lmrc_{corpus}_loraft.json", "lmrc": "examples/lmrc_{corpus}_paper.json",
                 "binary": "examples/lmrc_{corpus}_llm_preclassifier.json"}


def _docre(table: Table, row: Row, ctx: Context) -> Plan:
    o, needs = row.opts, []
    corpus, method = o["corpus"], o["method"]
    train_f, dev_f, test_f = (ctx.data_dir / f for f in DOCRE[corpus])
    split_file = {"dev": dev_f, "test": test_f}
    llm = _model(ctx, o["llm"], needs)
    base = ctx.run_dir / "docre"
    data = [f"data.data_dir={ctx.data_dir}", f"data.train_file={train_f}",
            f"data.rel_info={ctx.data_dir / 'docred' / 'rel_info.json'}", "prompts.candidates="]
    per_rank = _accum(4, 1, ctx.nproc, f"{table.id}/{row.id}")  # Tables 6-7: batch 4 -> 4 / nproc per process
    steps: list[Step] = []
    outputs: dict[str, str] = {}
    reqs = {Requirement("field", "DocREConfig", "prompts.style"), Requirement("field", "DocREConfig",
                                                                             "train.warmup_steps")}
    ds = ["--ds", ctx.ds] if ctx.ds else []

    def llm_run(style: str) -> tuple[Path, list[str]]:
        """Train the LLM with the style's paper config once; (its run folder, its --config/--set arguments)."""
        run = base / f"{corpus}-{o['llm']}-{style}"
        config = DOCRE_CONFIGS[style].format(corpus=corpus)
        reqs.add(Requirement("file", "the repository", config))
        sets = [*data, f"model.large={llm}", f"train.micro_batch={per_rank}", "train.grad_accum=1"]
        if ctx.smoke:
            sets += SMOKE_DOCRE + [f"prompts.pairs_per_prompt={SMOKE_PAIRS[style]}", f"model.tokenizer={ctx.tokenizer}"]
        args = ["--config", config, *_sets(sets)]
        steps.append(Step(f"docre/{run.name}/train", ("docre", "train", *ds, *args, *_sets(
            [f"run_dir={run}", f"data.eval_file={dev_f}"])), str(run / "llm" / "export" / "config.json"), launch=True))
        return run, args

    def predict(run: Path, args: list[str], split: str, cands: str, tag: str) -> Path:
        """Decode ``split`` with the LLM trained in ``run``, asked about ``cands``; its eval.json."""
        out, f = run / f"eval-{split}-{tag}", split_file[split]
        steps.append(Step(f"docre/{run.name}/{split}-{tag}", ("docre", "predict", "--model",
                          str(run / "llm" / "export"), "--candidates", cands, *args,
                          *_sets([f"run_dir={out}", f"data.eval_file={f}"])),
                          str(out / "predict" / f"{f.stem}.eval.json"), launch=True))
        return out / "predict" / f"{f.stem}.eval.json"

    def rcp(split: str) -> Path:
        """LMRC's RCP (Table 6, the paper config's rcp section) trained once per corpus, proposing for ``split``;
        the candidates file."""
        run = base / f"{corpus}-rcp"
        config = DOCRE_CONFIGS["lmrc"].format(corpus=corpus)
        sets = [f"run_dir={run}", f"rcp.encoder={_model(ctx, 'roberta-large', needs)}", f"rcp.train_file={train_f}",
                f"rcp.dev_file={dev_f}", f"rcp.batch_docs={per_rank}",
                "rcp.grad_accum=1", *(SMOKE_RCP if ctx.smoke else [])]
        args = ["--config", config, *_sets(sets)]
        rcp_dir = run / "rcp"
        steps.append(Step(f"docre/{run.name}/rcp-train", ("docre", "rcp-train", *ds, *args),
                          str(rcp_dir / "best" / "model.pt"), launch=True))
        steps.append(Step(f"docre/{run.name}/propose-{split}", ("docre", "rcp-propose", "--docs",
                          str(split_file[split]), "--name", split, *args),
                          str(rcp_dir / "candidates" / f"{split}.jsonl")))
        outputs[f"{split}:rcp_stats"] = str(rcp_dir / "candidates" / f"{split}.stats.json")
        return rcp_dir / "candidates" / f"{split}.jsonl"

    if method == "lora-ft":  # Table 11's prompt over all pairs, None for unrelated ones (Table 7 "Pre")
        run, args = llm_run("extract")
        for split in o["splits"]:
            outputs[f"{split}:eval"] = str(predict(run, args, split, "all", "all"))
    elif method in ("lmrc", "rc-gold"):  # Table 12's prompt over RCP's candidates / the gold related pairs
        run, args = llm_run("lmrc")
        for split in o["splits"]:
            cands, tag = (str(rcp(split)), "rcp") if method == "lmrc" else ("gold", "gold")
            outputs[f"{split}:eval"] = str(predict(run, args, split, cands, tag))
    elif method == "binary":  # Table 5: the LLM pre-classifier proposes, the RC-stage LLM classifies
        reqs.add(Requirement("value", "harness.recipes.docre.prompts:STYLES", "binary"))
        brun, bargs = llm_run("binary")
        run, args = llm_run("lmrc")
        for split in o["splits"]:
            beval = predict(brun, bargs, split, "all", "all")
            outputs[f"{split}:binary"] = str(beval)
            cands = beval.parent / f"{split_file[split].stem}.candidates.jsonl"
            outputs[f"{split}:eval"] = str(predict(run, args, split, str(cands), "llm-binary"))
    else:
        raise ValueError(f"{table.id}/{row.id}: unknown docre method {method!r}")
    files = [*DOCRE[corpus][:2], "docred/rel_info.json", *([DOCRE[corpus][2]] if "test" in o["splits"] else [])]
    return Plan(tuple(steps), outputs, needs=tuple(needs), files=_files(ctx, files),
                requires=tuple(sorted(reqs, key=lambda r: (r.what, r.name))))


# ---- generation (seed 002): gen generate [-> pairs -> dpo train -> gen generate] -> atlantis train + eval ----------
def _gen(table: Table, row: Row, ctx: Context) -> Plan:
    o, needs = row.opts, []
    data, base = o["data"], ctx.run_dir / "gen"
    gen_model = _model(ctx, "generator", needs)
    re_model = _model(ctx, "re-model", needs)
    dsets = [f"data.dataset={'semeval' if data == 'semeval' else 'tacred'}",
             f"data.data_dir={ctx.data_dir / DATA_DIRS[data]}"]
    tok = [f"model.tokenizer={ctx.tokenizer}"] if ctx.smoke else []
    smoke = SMOKE_GEN if ctx.smoke else []
    reqs = [Requirement("field", "GenRunConfig", "gen.candidates_per_step")]
    steps: list[Step] = []

    def generate(name: str, model: str, mode: str, model_tok: list[str], per_step: int = 1) -> Path:
        run = base / name
        mode_sets = [f"gen.mode={mode}"] + ([f"gen.candidates_per_step={per_step}"] if mode == "one-by-one" else [])
        steps.append(Step(f"gen/{name}/generate", ("gen", "generate", *_sets([f"run_dir={run}", *dsets,
                          f"model.large={model}", *model_tok, *mode_sets, *smoke])), str(run / "metrics.json"),
                          launch=True))
        return run

    if o["dpo"]:
        # the pair rule needs two candidates per prompt (harness.recipes.gen.pairs): a one-by-one run drawing 2 per
        #   step gives the pairs (the seed states no k); the DPO-tuned generator then generates one-by-one at 1
        first = generate(f"{data}-dpo-pairs", gen_model, "one-by-one", tok, per_step=DPO_PAIR_CANDIDATES)
        pairs, dpo = first / "pairs.jsonl", base / f"{data}-dpo-train"
        steps.append(Step(f"gen/{first.name}/pairs", ("gen", "pairs", "--run-dir", str(first)), str(pairs)))
        if ctx.smoke:
            return Plan(tuple(steps), {}, needs=tuple(needs), files=_files(ctx, DATA[data]), requires=tuple(reqs),
                        partial=SMOKE_DPO)
        dsmoke = ["train.epochs=1"] if ctx.smoke else []
        ds = ["--ds", ctx.ds] if ctx.ds else []
        steps.append(Step(f"gen/{dpo.name}", ("dpo", "train", *ds, "--pairs", str(pairs), *_sets(
            [f"run_dir={dpo}", *dsets, f"model.large={gen_model}", *tok, *dsmoke])),
            str(dpo / "export" / "config.json"), launch=True))
        run = generate(row.id, str(dpo / "export"), o["mode"], [])
    else:
        run = generate(f"{data}-{'icl' if o['mode'] == 'one-by-one' else 'direct'}", gen_model, o["mode"], tok)
    re_run = run / "re-model"
    re_sets = [f"run_dir={re_run}", "data.dataset=jsonl", f"data.data_dir={run / 'samples'}",
               f"data.template={'semeval' if data == 'semeval' else 'tacred'}", f"model.large={re_model}", *tok,
               *(SMOKE_RE if ctx.smoke else [])]
    if data == "semeval":
        re_sets.append("data.label_space=semeval10")
    ds = ["--ds", ctx.ds] if ctx.ds else []
    steps.append(Step(f"gen/{run.name}/re-train", ("atlantis", "train", *ds, *_sets(re_sets)),
                      str(re_run / "export" / "config.json"), launch=True))
    steps.append(Step(f"gen/{run.name}/re-eval", ("atlantis", "eval", "--model", str(re_run / "export"), "--split",
                                                  "test", *_sets(re_sets)), str(re_run / "eval.json"), launch=True))
    return Plan(tuple(steps), {"metrics": str(run / "metrics.json"), "eval": str(re_run / "eval.json")},
                needs=tuple(needs), files=_files(ctx, DATA[data]), requires=tuple(reqs))
