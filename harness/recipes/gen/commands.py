"""gen: generated training samples (harness.recipes.gen). The stage code is in harness/recipes/gen/stage.py.

    python -m harness gen generate --config gen.json --set gen.candidates_per_step=2 [--run-dir DIR] [--ds D]
        [--resume | --overwrite]
    torchrun --nproc_per_node 2 -m harness gen generate ...      (relations split between ranks)
    python -m harness gen pairs --run-dir runs/gen
    python -m harness gen metrics --run-dir runs/gen [--verifier EXPORTED_DIR]

generate writes <run_dir>/samples/{train,dev,test}.jsonl (a data.dataset=jsonl folder; test = the real test split),
candidates.jsonl, rejects.jsonl, metrics.json and the manifest (harness.recipes.gen.files.GenFiles). It resumes after a
crash (the same command, or --resume); a folder generated under other settings is refused (--overwrite starts it
again). One-by-one draws gen.candidates_per_step completions per step (1 = the paper; > 1 = best-of-k, this
project's extension); batch mode draws gen.k per prompt. With gen.warmup_epochs > 0 the generator is first fine-tuned
on gold generation lines in <run_dir>/warmup (harness.recipes.gen.warmup; --ds: its DeepSpeed config, needed at more than one rank) and generation loads that export.
"""

from __future__ import annotations

from harness.cli import Command


def generate(args, on_step=None) -> int:
    """``on_step``: a test hook called after each loop step (tests/gen)."""
    from harness import dist
    from harness.config import load_config
    from harness.recipes.gen.config import GenRunConfig
    from harness.recipes.gen.stage import generate as run_generate

    cfg = load_config(args.config, args.set, cls=GenRunConfig)
    run_generate(cfg, overwrite=args.overwrite, on_step=on_step, ds_path=args.ds)
    dist.destroy()
    return 0


def pairs(args) -> int:
    from harness.recipes.gen.stage import pairs as run_pairs

    run_pairs(args.run_dir)
    return 0


def metrics(args) -> int:
    from harness.recipes.gen.stage import metrics as run_metrics

    run_metrics(args.run_dir, args.verifier)
    return 0


def _metrics_args(p) -> None:
    p.add_argument("--verifier", default="", help="an exported HF model folder: its label ranking of the generated "
                   "samples -> label agreement (written into metrics.json)")


COMMANDS = [
    Command("generate", "generate samples (sharded over ranks, resumable) -> <run_dir>/samples/", generate,
            config="GenRunConfig", run_dir="set", ds=True, dist=True, hooks=("on_step",),
            restart=("continue where a crashed run stopped (also what the same command does by itself)",
                     "delete the samples generated in the run folder under other settings and start again")),
    Command("pairs", "preference pairs of a generate run -> <run_dir>/pairs.jsonl", pairs, run_dir="one"),
    Command("metrics", "print (and with --verifier extend) the diversity metrics of <run_dir>/metrics.json", metrics,
            _metrics_args, run_dir="one"),
]
