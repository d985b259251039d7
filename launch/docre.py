"""DocRE entry point: LMRC's LLM relation-classification stage on DocRED / Re-DocRED, and the official evaluation.

    python launch/docre.py eval --pred P.json --gold G.json [--facts F.fact] [--eps] [--out E.json]
        the official DocRED scores of a submission ([{title, h_idx, t_idx, r}]): P/R/F1, Ign F1, intra/inter F1,
        evidence F1; printed and written as JSON (default: beside --pred, <pred stem>.eval.json).
    python launch/docre.py prompts --config C.json [--set k=v] [--candidates gold|all|FILE]
        writes the training prompts (gold pairs + answers) and the evaluation prompts (over the candidates) to
        <run_dir>/prompts/{train,eval}.<file stem>.jsonl for inspection, with their sizes.
    python launch/docre.py train-llm --config C.json [--ds ds_configs/zero3.json] [--resume | --overwrite]
        fine-tunes model.large on the training documents' gold pairs (answer tokens only in the loss).
    python launch/docre.py predict --config C.json [--model DIR] [--candidates gold|all|FILE]
        greedy decoding of the evaluation prompts, parsing, <run_dir>/predict/<stem>.{generations.jsonl,
        predictions.json, eval.json}.
    python launch/docre.py pipeline --config C.json [--ds ...] [--candidates FILE]   train-llm, then predict.
    python launch/docre.py rcp-train --config rcp.json [--ds ds_configs/zero2.json] [--resume | --overwrite]
        trains LMRC's relation candidate proposal classifier (harness.docre.rcp, RCPConfig) into <run_dir>/rcp/
        (checkpoints per epoch, metrics.jsonl, evals.jsonl, best/model.pt)
    python launch/docre.py rcp-propose --config rcp.json [--docs FILE] [--name test]
        tunes the threshold on the tuning documents and writes <run_dir>/rcp/candidates/<name>.jsonl (+ stats):
        the --candidates file of prompts / predict / pipeline
    torchrun --nproc_per_node 2 launch/docre.py {train-llm,predict,pipeline,rcp-train} --ds ...   over ranks.

LMRC end to end: rcp-train, rcp-propose (candidates of the evaluation documents), then pipeline --candidates
<run_dir>/rcp/candidates/test.jsonl (the LLM is fine-tuned on gold pairs, asked about the proposed ones).

Offline protocol (no data.* files given): train on Re-DocRED dev, evaluate on Re-DocRED test, Ign F1 from the
original DocRED training facts, labelled "(DocRED-train facts)". A wrong input is one line `error: ...` on stderr
and exit status 2 (harness.cli).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness import dist, log
from harness.cli import input_errors, run_main
from harness.run import atomic_write_json


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--local_rank", "--local-rank", type=int, default=None, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("eval", help="official DocRED scores of a predictions file")
    e.add_argument("--pred", required=True, help="JSON list of {title, h_idx, t_idx, r}")
    e.add_argument("--gold", required=True, help="DocRED-format documents with labels")
    e.add_argument("--facts", default="", help="training facts for Ign F1 (.fact file or DocRED training file)")
    e.add_argument("--facts-label", default="", help='how Ign F1 is labelled, e.g. "(DocRED-train facts)"')
    e.add_argument("--eps", action="store_true", help="ATLOP/DREEAM's +1e-5 in IgnP's denominator")
    e.add_argument("--out", default="", help="eval JSON (default <pred dir>/<pred stem>.eval.json)")
    stages = {name: sub.add_parser(name, help=text) for name, text in (
        ("prompts", "write the prompts for inspection"), ("train-llm", "fine-tune the LLM on gold pairs"),
        ("predict", "decode, parse and evaluate"), ("pipeline", "train-llm, then predict"))}
    for name, q in stages.items():
        q.add_argument("--config", default=None, help="DocREConfig JSON (defaults if omitted)")
        q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
        if name != "train-llm":
            q.add_argument("--candidates", default="", help="gold | all | RCP candidates JSONL (default "
                           "prompts.candidates)")
        if name in ("train-llm", "pipeline"):
            q.add_argument("--ds", default=None, help="DeepSpeed JSON (ds_configs/...); omitted: plain torch")
            q.add_argument("--resume", action="store_true")
            q.add_argument("--overwrite", action="store_true")
    stages["predict"].add_argument("--model", default="", help="HF model folder (default <run_dir>/llm/export)")
    _rcp_parsers(sub)
    return p.parse_args(argv)


def _rcp_parsers(sub) -> None:
    t = sub.add_parser("rcp-train", help="train the relation candidate proposal classifier")
    t.add_argument("--ds", default=None, help="DeepSpeed JSON (ZeRO-2/3); plain torch when omitted")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--overwrite", action="store_true")
    pr = sub.add_parser("rcp-propose", help="tune the RCP threshold and write a candidates file")
    pr.add_argument("--docs", default="", help="DocRED-format documents (default: propose_file)")
    pr.add_argument("--name", default="test", help="candidates/<name>.jsonl")
    for q in (t, pr):
        q.add_argument("--config", default=None, help="DocREConfig JSON (its rcp section; defaults if omitted)")
        q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")


def cmd_rcp(args) -> int:
    import json

    from harness.config import load_config
    from harness.docre.config import DocREConfig
    from harness.docre.rcp.config import check
    from harness.docre.rcp.stage import rcp_propose
    from harness.docre.rcp.train import rcp_trainer

    cfg = load_config(args.config, args.set, cls=DocREConfig)
    check(cfg.rcp)
    if args.cmd == "rcp-train":
        trainer = rcp_trainer(cfg, args.ds, resume=args.resume, overwrite=args.overwrite)
        try:
            with input_errors():
                trainer.prepare()
            out = trainer.build().train()
            out = {k: out[k] for k in ("steps", "best_f1", "best_epoch")}
        finally:
            trainer.close()
    else:
        dist.init()
        out = rcp_propose(cfg, docs_path=args.docs, name=args.name)
    if dist.rank() == 0:
        print(json.dumps(out, sort_keys=True))
    dist.destroy()
    return 0


def cmd_eval(args) -> int:
    from harness.docre.evaluate import evaluate_files
    from harness.docre.stage import print_scores

    with input_errors():
        res = evaluate_files(args.pred, args.gold, args.facts or None, eps=args.eps)
    res["facts_label"] = args.facts_label
    out = Path(args.out) if args.out else Path(args.pred).with_name(Path(args.pred).stem + ".eval.json")
    atomic_write_json(out, res)
    print_scores(res, f"DocRED official scores: {args.pred}")
    log.info(f"unknown titles {res['unknown_titles']}, deduped {res['n_submitted']} -> {res['n_deduped']}; "
             f"-> {out}")
    return 0


def cmd_prompts(cfg, args) -> int:
    from harness.docre.stage import DocREFiles, eval_prompts, load_inputs, training_prompts, write_prompts

    files = DocREFiles(cfg.run_dir)
    with input_errors():
        inputs = load_inputs(cfg)
        sets = {f"train.{inputs.paths.train.stem}": training_prompts(cfg, inputs),
                f"eval.{inputs.eval_name}": eval_prompts(cfg, inputs, args.candidates or cfg.prompts.candidates)}
    rows = []
    for name, prompts in sets.items():
        write_prompts(files.prompts(name), prompts)
        chars = [len(p.text) for p in prompts] or [0]
        rows.append([name, len(prompts), sum(len(p.pairs) for p in prompts), sum(chars) / len(chars), max(chars)])
    log.table("DocRE prompts", ["file", "prompts", "pairs", "mean chars", "max chars"], rows)
    log.info(f"-> {files.prompts(inputs.eval_name).parent}")
    return 0


def cmd_train(cfg, args) -> dict:
    from harness.docre.stage import load_inputs, train_stage

    with input_errors():
        inputs = load_inputs(cfg, train=True)
    return train_stage(cfg, inputs, args.ds, resume=args.resume, overwrite=args.overwrite)


def cmd_predict(cfg, args, model_dir: str = "") -> int:
    from harness.docre.stage import (
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
        prompts = eval_prompts(cfg, inputs, args.candidates or cfg.prompts.candidates)
        model_dir = Path(model_dir or files.export)
        model, tok = load_llm(cfg, model_dir)
    res = predict_stage(cfg, inputs, prompts, model, tok, str(model_dir))
    if res is not None:
        print_scores(res, f"DocRE {inputs.eval_name}: {len(prompts)} prompts")
        log.info(f"parser drops {res['parse']['dropped']}; -> {files.eval_json(inputs.eval_name)}")
    return 0


def main(argv=None) -> int:
    from harness.config import load_config
    from harness.docre.config import DocREConfig

    args = parse_args(argv)
    if args.cmd == "eval":
        return cmd_eval(args)
    if args.cmd.startswith("rcp-"):
        return cmd_rcp(args)
    cfg = load_config(args.config, args.set, cls=DocREConfig)
    if args.cmd == "prompts":
        return cmd_prompts(cfg, args)
    dist.init()
    if args.cmd in ("train-llm", "pipeline"):
        out = cmd_train(cfg, args)
        log.info(f"trained {out['steps']} steps; model -> {out['export_dir']}")
    if args.cmd in ("predict", "pipeline"):
        cmd_predict(cfg, args, getattr(args, "model", ""))
    dist.barrier()
    dist.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
