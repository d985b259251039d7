"""docre: LMRC's LLM relation-classification stage on DocRED / Re-DocRED, its relation candidate proposal (RCP)
and the official evaluation (harness/recipes/docre/).

    python -m harness docre docred-score --pred P.json --gold G.json [--facts F.fact] [--eps] [--out E.json]
        the official DocRED scores of a submission ([{title, h_idx, t_idx, r}]): P/R/F1, Ign F1, intra/inter F1,
        evidence F1; printed and written as JSON (default: beside --pred, <pred stem>.eval.json).
    python -m harness docre prompts --config C.json [--set k=v] [--candidates gold|all|FILE]
        writes the training prompts (gold pairs + answers) and the evaluation prompts (over the candidates) to
        <run_dir>/prompts/{train,eval}.<file stem>.jsonl for inspection, with their sizes.
    python -m harness docre train --config C.json [--ds ds_configs/zero3.json] [--resume | --overwrite]
        fine-tunes model.large on the training documents' gold pairs (answer tokens only in the loss).
    python -m harness docre predict --config C.json [--model DIR] [--candidates gold|all|FILE]
        greedy decoding of the evaluation prompts, parsing, <run_dir>/predict/<stem>.{generations.jsonl,
        predictions.json, eval.json}.
    python -m harness docre pipeline --config C.json [--ds ...] [--candidates FILE]   train, then predict.
    python -m harness docre rcp-train --config rcp.json [--ds ds_configs/zero2.json] [--resume | --overwrite]
        trains LMRC's relation candidate proposal classifier (harness.recipes.docre.rcp; the rcp section of DocREConfig) into <run_dir>/rcp/
        (checkpoints per epoch, metrics.jsonl, evals.jsonl, best/model.pt)
    python -m harness docre rcp-propose --config rcp.json [--docs FILE] [--name test]
        applies the threshold (rcp.threshold_mode: fixed, P(related) > 0.5 as LMRC's code, or f1 / recall tuned on
        the tuning documents) and writes <run_dir>/rcp/candidates/<name>.jsonl (+ stats):
        the --candidates file of prompts / predict / pipeline
    torchrun --nproc_per_node 2 -m harness docre {train,predict,pipeline,rcp-train} --ds ...   over ranks.

LMRC end to end: rcp-train, rcp-propose (candidates of the evaluation documents), then pipeline --candidates
rcp:test (= <run_dir>/rcp/candidates/test.jsonl; the LLM is fine-tuned on gold pairs, asked about the proposed ones).
Prompt styles (--set prompts.style=..., harness.recipes.docre.config): lmrc (default, Table 12), extract (Table 11
over all pairs with None: the "LoRA FT LLM" baseline), binary (Table 5's LLM pre-classifier: predict writes
<run_dir>/predict/<stem>.candidates.jsonl, the --candidates of an lmrc predict: "w/o pre-classifier w LLM").
Offline protocol (no data.* files given): train on Re-DocRED dev, evaluate on Re-DocRED test, Ign F1 from the
original DocRED training facts, labelled "(DocRED-train facts)".
"""

from __future__ import annotations

from pathlib import Path

from harness.cli import RESUME_EXPLICIT, Command, input_errors


def _config(args):
    from harness.config import load_config
    from harness.recipes.docre.config import DocREConfig

    return load_config(args.config, args.set, cls=DocREConfig)


def rcp(args) -> int:
    import json

    from harness import dist
    from harness.config import load_config
    from harness.recipes.docre.config import DocREConfig
    from harness.recipes.docre.rcp.stage import rcp_propose
    from harness.recipes.docre.rcp.train import rcp_train

    cfg = load_config(args.config, args.set, cls=DocREConfig)
    if args.cmd == "rcp-train":
        out = rcp_train(cfg, args.ds, resume=args.resume, overwrite=args.overwrite, dist_timeout_s=args.dist_timeout)
    else:
        dist.init()
        out = rcp_propose(cfg, docs_path=args.docs, name=args.name)
    if dist.rank() == 0:
        print(json.dumps(out, sort_keys=True))
    dist.destroy()
    return 0


def docred_score(args) -> int:
    from harness import log
    from harness.recipes.docre.evaluate import evaluate_files
    from harness.recipes.docre.stage import print_scores
    from harness.run import atomic_write_json

    with input_errors():
        res = evaluate_files(args.pred, args.gold, args.facts or None, eps=args.eps)
    res["facts_label"] = args.facts_label
    out = Path(args.out) if args.out else Path(args.pred).with_name(Path(args.pred).stem + ".eval.json")
    atomic_write_json(out, res)
    print_scores(res, f"DocRED official scores: {args.pred}")
    log.info(f"unknown titles {res['unknown_titles']}, deduped {res['n_submitted']} -> {res['n_deduped']}; "
             f"-> {out}")
    return 0


def prompts(args) -> int:
    from harness import log
    from harness.recipes.docre.stage import (
        DocREFiles,
        eval_prompts,
        load_inputs,
        training_prompts,
        write_prompts,
    )

    cfg = _config(args)
    files = DocREFiles(cfg.run_dir)
    with input_errors():
        inputs = load_inputs(cfg)
        sets = {f"train.{inputs.paths.train.stem}": training_prompts(cfg, inputs),
                f"eval.{inputs.eval_name}": eval_prompts(cfg, inputs, args.candidates)}
    rows = []
    for name, ps in sets.items():
        write_prompts(files.prompts(name), ps)
        chars = [len(p.text) for p in ps] or [0]
        rows.append([name, len(ps), sum(len(p.pairs) for p in ps), sum(chars) / len(chars), max(chars)])
    log.table("DocRE prompts", ["file", "prompts", "pairs", "mean chars", "max chars"], rows)
    log.info(f"-> {files.prompts(inputs.eval_name).parent}")
    return 0


def _train(cfg, args) -> None:
    from harness import log
    from harness.recipes.docre.stage import load_inputs, train_stage

    with input_errors():
        inputs = load_inputs(cfg, train=True)
    out = train_stage(cfg, inputs, args.ds, resume=args.resume, overwrite=args.overwrite)
    log.info(f"trained {out['steps']} steps; model -> {out['export_dir']}")


def _predict(cfg, args, model_dir: str = "") -> None:
    from harness import log
    from harness.recipes.docre.stage import (
        DocREFiles,
        eval_prompts,
        load_inputs,
        load_llm,
        predict_stage,
        print_scores,
    )

    files = DocREFiles(cfg.run_dir)
    with input_errors():
        inputs = load_inputs(cfg, train=False)
        ps = eval_prompts(cfg, inputs, args.candidates)
        model_dir = Path(model_dir or files.export)
        model, tok = load_llm(cfg, model_dir)
    res = predict_stage(cfg, inputs, ps, model, tok, str(model_dir))
    if res is not None:
        print_scores(res, f"DocRE {inputs.eval_name}: {len(ps)} prompts ({cfg.prompts.style})")
        drops = res["dropped"] if cfg.prompts.style == "binary" else res["parse"]["dropped"]
        extra = f"; candidates -> {res['candidates']}" if cfg.prompts.style == "binary" else ""
        log.info(f"parser drops {drops}; -> {files.eval_json(inputs.eval_name)}{extra}")


def llm_stage(args) -> int:
    """train, predict or pipeline (train, then predict), under one process group."""
    from harness import dist

    cfg = _config(args)
    dist.init()
    if args.cmd in ("train", "pipeline"):
        _train(cfg, args)
    if args.cmd in ("predict", "pipeline"):
        _predict(cfg, args, getattr(args, "model", ""))
    dist.barrier()
    dist.destroy()
    return 0


def _score_args(p) -> None:
    p.add_argument("--pred", required=True, help="JSON list of {title, h_idx, t_idx, r}")
    p.add_argument("--gold", required=True, help="DocRED-format documents with labels")
    p.add_argument("--facts", default="", help="training facts for Ign F1 (.fact file or DocRED training file)")
    p.add_argument("--facts-label", default="", help='how Ign F1 is labelled, e.g. "(DocRED-train facts)"')
    p.add_argument("--eps", action="store_true", help="ATLOP/DREEAM's +1e-5 in IgnP's denominator")
    p.add_argument("--out", default="", help="eval JSON (default <pred dir>/<pred stem>.eval.json)")


def _candidates(p) -> None:
    p.add_argument("--candidates", default="", help="gold | all | rcp:<name> (<run_dir>/rcp/candidates/<name>.jsonl) "
                   "| candidates JSONL (default prompts.candidates, else gold for prompts.style=lmrc, all for extract "
                   "/ binary)")


def _predict_args(p) -> None:
    _candidates(p)
    p.add_argument("--model", default="", help="HF model folder (default <run_dir>/llm/export)")


def _propose_args(p) -> None:
    p.add_argument("--docs", default="", help="DocRED-format documents (default: propose_file)")
    p.add_argument("--name", default="test", help="candidates/<name>.jsonl")


_LLM = dict(config="DocREConfig", run_dir="set", dist=True)
_TRAIN = dict(ds=True, restart=RESUME_EXPLICIT)
COMMANDS = [
    Command("prompts", "write the training and evaluation prompts for inspection -> <run_dir>/prompts/", prompts,
            _candidates, config="DocREConfig", run_dir="set"),
    Command("train", "fine-tune the LLM on the training documents' gold pairs -> <run_dir>/llm/", llm_stage,
            **_LLM, **_TRAIN),
    Command("predict", "decode, parse and score the evaluation prompts -> <run_dir>/predict/", llm_stage,
            _predict_args, **_LLM),
    Command("pipeline", "train, then predict", llm_stage, _candidates, **_LLM, **_TRAIN),
    Command("rcp-train", "train the relation candidate proposal classifier -> <run_dir>/rcp/", rcp,
            config="DocREConfig", run_dir="set", dist=True, **_TRAIN),
    Command("rcp-propose", "apply (or tune) the RCP threshold, write a candidates file -> <run_dir>/rcp/candidates/",
            rcp,
            _propose_args, config="DocREConfig", run_dir="set", dist=True),
    Command("docred-score", "official DocRED scores of a predictions file (no model run)", docred_score,
            _score_args),
]
