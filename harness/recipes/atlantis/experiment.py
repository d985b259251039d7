"""The main job: the whole ATLANTIS experiment (``python -m harness atlantis experiment``), each stage through the
one command line (``python -m harness <recipe> <command>``) in a process of its own.

    bash scripts/main.sh                                    # embedded default: synthetic data, tiny models
    bash scripts/main.sh --dataset semeval --data-dir ../shared/data/semeval2010_task8 \
        --large /ckpt/Qwen2-7B --small /ckpt/Qwen2-0.5B --reference /ckpt/Qwen2-0.5B-Instruct \
        --ds ds_configs/zero3.json --nproc 8 --noise 0.3

Stages (each writes into <root>/<stage>/ (<root>: --run-dir) and is skipped when its output exists, so an interrupted
experiment resumes where it stopped; a training stage interrupted mid-run resumes from its latest complete checkpoint).
At each seed s of --seeds (default 3 on the embedded default, else 1), in <root>/seed-<s>/ with train.seed=s:
  1. reference  fine-tune the small model on the training split (only when --reference is not given)
  2. scoring    log p_L, log p_S, log p_ref of every training label (atlantis score), then weights.f32 (shared by
                the seeds in <root>/scoring/ when --reference is given: frozen models, nothing seeded)
  3. sft        plain SFT of the large model (atlantis train under DeepSpeed ZeRO-3)
  4. atlantis   the same run with the importance weights
  5. eval       each exported model on the test split (atlantis eval) and, with noisy labels, on its own training
                split (eval-train.json: how much of the flipped labels it fits)
then the report: the side-by-side table (atlantis compare), learning curves and weight plots of the first seed, the
per-seed table, mean +- sd per method, the paired difference ATLANTIS - SFT with its 95% t interval over seeds and
the two-level paired bootstrap (harness.eval.intervals), plots/seeds.png, summary.json.
--sweep key=v1,v2 (repeatable): one such experiment ("cell") per combination of values under <root>/sweep/<cell>/,
then the ablation table and plots/sweep-<key>.png; <cell>/experiment.json records a cell's settings (a cell at
other settings is refused; a finished one, summary.json at the same seeds, is reused without running anything).
With --train-data generated, a stage "generate" first writes LLM-generated training samples (gen generate,
harness.recipes.gen: one-by-one in-context generation by default, generator --generator, default model.large; settings from
--gen-config and --gen-set, plus gen.gold_per_relation gold examples per relation) into <root>/generate/samples/, and
every later stage trains on them (data.dataset=jsonl) and is evaluated on the real test split. On the embedded
default the generator is a tiny random model, first fine-tuned on gold generation lines (the generator warm-up,
harness.recipes.gen.warmup; GEN_DEFAULT_SETS): a few of its samples are valid, most are rejected (counted by reason in
<root>/generate/metrics.json), so the training set is mostly the gold examples per relation.
With --weak-labels qa4re, a stage 0 first labels the training split zero-shot with QA4RE (qa4re label,
model --labeller, default model.large) and every later stage trains on those weak labels (data.weak_labels, no
uniform noise): "QA4RE weak labels -> scoring -> ATLANTIS vs SFT". The labeller is also evaluated zero-shot on the
test split (qa4re eval); its figures go into summary.json. On the embedded default the labeller is a
tiny random model, so its labels are near chance: a heavily corrupted training set, not QA4RE's quality.

The embedded default is honest about what it is: a SYNTHETIC relation set (harness/data/synthetic.py) and tiny
random-initialised Qwen2-shaped models trained here on 2 CPU cores. p_L and p_S are then untrained random models,
so the weights are driven by the reference model; the figures show the pipeline works end to end, not what
ATLANTIS achieves with real pretrained models.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from harness import log
from harness.run import RunDir, atomic_write_json

ROOT = Path(__file__).resolve().parents[3]  # the repository: stages run here, a relative --run-dir is under it
HARNESS = ["-m", "harness"]  # a stage's entry point, after the launcher

# Embedded default: small enough for < 10 minutes on 2 CPU cores, large enough for a tiny model to learn. Applied
# only to the embedded default (no --dataset, no --config): a real run starts from harness.config's defaults and
# its own config file (examples/semeval.json, examples/conll04.json).
DEFAULT_SETS = [
    "data.dataset=synthetic",
    "data.synthetic_size=640",  # training examples (576 train + 64 dev)
    "data.synthetic_test_size=800",  # test examples: one example moves accuracy 0.125 points
    "data.noise_rate=0.3",  # 30% uniform label noise on the training split
    "train.epochs=8",
    "train.micro_batch=8",  # x 2 ranks = global batch 16
    "train.lr=3e-3",  # random-init tiny model: a pretrained 7B would use ~1e-5
    "train.warmup_ratio=0.05",
    "train.eval_split=test",
    "scoring.tokens_per_batch=2048",
]
# The generate stage on the embedded default (--train-data generated, no --gen-config).
GEN_DEFAULT_SETS = [
    "gen.mode=one-by-one",
    "gen.samples_per_relation=4",
    "gen.candidates_per_step=1",  # the paper's one-by-one: one sample drawn per step (> 1: best-of-k, the project's
    #   extension); 8 steps = the 8 completions per relation of the former best-of-2 x 4 steps. Measured (issue 24,
    #   docs/gen_k1_vs_bestofk.md; one rank, gold copies rejected): synthetic_size=640: 3 of 48 accepted (29
    #   gold_copy, 16 entity_not_in_sentence), best-of-2 x 4 steps 2 of 48; synthetic_size=64: 2 of 48, best-of-2 1
    "gen.max_steps=8",
    "gen.max_new_tokens=48",  # the synthetic set's lines are <= 40 tokens (+ EOS)
    "gen.temperature=0.7",
    "gen.seed_gold=2",  # gold demonstrations seeding each relation's window
    "gen.gold_per_relation=16",  # gold examples per relation added to the generated ones
    # generator warm-up (harness.recipes.gen.warmup): the random-init tiny generator is first fine-tuned on gold generation
    # lines, else it writes nothing the parser accepts. Measured on synthetic_size=64 (gen.gold_per_relation=8, one
    # rank, best-of-2, before gold_copy existed): 7 of 48 candidates accepted (41 rejected, 40 of them
    # entity_not_in_sentence) with these settings (672 steps); 1 demonstration set per answer, 100 epochs at 3e-3: 2
    # of 48; 30 epochs: 0. The tiny model learns the line format quickly and copying the entities into the sentence
    # slowly; most of what it gets right is a training sentence verbatim (now rejected as gold_copy).
    "gen.warmup_epochs=12",
    "gen.warmup_lr=1e-2",
    "gen.warmup_prompts=8",  # demonstration sets per gold answer
    "gen.warmup_per_relation=16",
]


def base_sets(a) -> list[str]:
    sets = list(DEFAULT_SETS) if not (a.dataset or a.config) else []
    if a.dataset:
        sets.append(f"data.dataset={a.dataset}")
    if a.data_dir:
        sets.append(f"data.data_dir={a.data_dir}")
    if a.noise is not None:
        sets.append(f"data.noise_rate={a.noise}")
    if a.large:
        sets.append(f"model.large={a.large}")
    if a.small:
        sets.append(f"model.small={a.small}")
    return sets + list(a.set)


def launcher(nproc: int) -> list[str]:
    """What starts a stage: ``nproc`` local processes under torchrun, or one plain python."""
    from harness.dist import local_launcher

    return local_launcher(nproc)


def run_stage(name: str, cmd: list[str], log_dir: Path) -> float:
    """Run one stage's entry point, mirroring its output to the console and <root>/logs/<name>.log."""
    from harness.dist import die_with_parent

    log_dir.mkdir(parents=True, exist_ok=True)
    log.info(f"[bold]stage {name}[/bold]: {' '.join(cmd)}")
    t0 = time.perf_counter()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with (log_dir / f"{name}.log").open("a") as f, subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=die_with_parent,
    ) as proc:
        for line in proc.stdout:
            sys.stdout.write(line)
            f.write(line)
        rc = proc.wait()
    dt = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"stage {name} failed (exit {rc}); see {log_dir / f'{name}.log'}. "
                         f"Run the same command again to resume.")
    log.info(f"stage {name} done in {dt:.0f}s")
    return dt


def report(name: str, argv: list[str]) -> None:
    """A report command (compare, curves, weight plots: no model, no distributed run) in this process: the same
    command line as a stage, without a process start per report."""
    from harness.cli import main

    log.info(f"[bold]report {name}[/bold]: python -m harness {' '.join(argv)}")
    if main(argv) != 0:
        raise SystemExit(f"report {name} failed: python -m harness {' '.join(argv)}")


def config_args(sets: list[str], config: str | None = None) -> list[str]:
    out = ["--config", config] if config else []
    for s in sets:
        out += ["--set", s]
    return out


def parse_seeds(spec: str, default: int) -> list[int]:
    """--seeds: "" -> seeds 0..default-1; "N" -> 0..N-1; "a,b,c" (or "a," for one) -> that list."""
    from harness.cli import InputError

    try:
        if not spec:
            seeds = list(range(default))
        elif "," in spec:
            seeds = [int(x) for x in spec.split(",") if x.strip()]
        else:
            if int(spec) < 1:
                raise ValueError
            seeds = list(range(int(spec)))
    except ValueError:
        raise InputError(f"--seeds {spec!r}: give a count N >= 1 (seeds 0..N-1) or a comma list of seeds such as "
                         f"0,4,7 (one seed: 7,)") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise InputError(f"--seeds {spec!r}: the seeds must be distinct non-negative integers")
    return seeds


def parse_sweep(specs: list[str], config: str | None, sets: list[str]) -> list[tuple[str, list[str]]]:
    """--sweep key=v1,v2 (repeatable) -> [(key, [values])]; each value is checked as a --set of the run config."""
    from harness.cli import InputError
    from harness.config import load_config

    out: list[tuple[str, list[str]]] = []
    for spec in specs:
        key, eq, values = spec.partition("=")
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not eq or not key or not vals:
            raise InputError(f"--sweep {spec!r}: expected key=v1,v2,... (e.g. data.noise_rate=0.1,0.3,0.5)")
        if key == "train.seed":
            raise InputError("--sweep train.seed: seeds are --seeds (every cell runs every seed)")
        if key in (k for k, _ in out) or len(set(vals)) != len(vals):
            raise InputError(f"--sweep {spec!r}: a key is swept once, each value once")
        for v in vals:
            load_config(config, [*sets, f"{key}={v}"])  # an unknown key or a bad value: ConfigError, one line
        out.append((key, vals))
    return out


def cell_name(values: dict[str, str]) -> str:
    import re

    return "+".join(f"{k}={re.sub(r'[^A-Za-z0-9._-]', '_', v)}" for k, v in values.items())


def run_experiment(a) -> int:
    """``python -m harness atlantis experiment``: ``a`` holds its parsed flags. One cell (the experiment at every
    seed) or, with --sweep, one cell per combination of the swept values under <run-dir>/sweep/<cell>/."""
    from harness.cli import InputError

    if a.weak_labels and a.noise is not None:
        raise InputError("--weak-labels qa4re trains on QA4RE's labels; it cannot be combined with --noise")
    if a.weak_labels and a.train_data == "generated":
        raise InputError("--weak-labels qa4re labels the real training split; it cannot be combined with "
                         "--train-data generated")
    if any(s.startswith("train.seed=") for s in a.set):
        raise InputError("--set train.seed: the experiment's seeds are --seeds (e.g. --seeds 3, or --seeds 5, for "
                         "seed 5 alone)")
    import torch

    root = (ROOT / a.run_dir) if not Path(a.run_dir).is_absolute() else Path(a.run_dir)
    embedded = not (a.dataset or a.config)
    seeds = parse_seeds(a.seeds, DEFAULT_SEEDS if embedded else 1)
    sets = base_sets(a)
    sweep = parse_sweep(a.sweep, a.config, sets)
    if a.overwrite and root.exists():
        import shutil

        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    ds = a.ds or ("ds_configs/zero3.json" if torch.cuda.is_available() else "ds_configs/cpu_test.json")
    if not sweep:
        run_cell(a, root, sets, seeds, ds)
        return 0
    import itertools

    t0 = time.perf_counter()
    cells = []
    for combo in itertools.product(*[vals for _, vals in sweep]):
        values = dict(zip([k for k, _ in sweep], combo))
        name = cell_name(values)
        log.info(f"[bold]sweep cell {name}[/bold] ({len(cells) + 1} of {_count(sweep)})")
        summary = run_cell(a, root / "sweep" / name, sets + [f"{k}={v}" for k, v in values.items()], seeds, ds)
        cells.append({"name": name, "values": values, "summary": str(root / "sweep" / name / "summary.json"),
                      **{k: summary[k] for k in ("methods", "difference", "bootstrap", "noise_auc", "noisy_fit")}})
    summarize_sweep(root, sweep, seeds, cells, time.perf_counter() - t0)
    return 0


def _count(sweep) -> int:
    n = 1
    for _, vals in sweep:
        n *= len(vals)
    return n


def run_cell(a, root: Path, sets: list[str], seeds: list[int], ds: str) -> dict:
    """The experiment at every seed in ``root``: shared stages (tokenizer, [generate | QA4RE labels], and the
    scoring when the reference model is given) once, then per seed <root>/seed-<s>/{reference, scoring, sft,
    atlantis} (train.seed=s). A cell whose summary.json was written at the same settings and seeds is reused as is;
    one recorded at other settings is refused (experiment.json). Returns the cell's summary."""
    from harness.config import load_config
    from harness.data.dataset import load_splits
    from harness.models.tokenizer import run_tokenizer

    sets = list(sets)
    cfg = load_config(a.config, sets)
    done = _claim_cell(a, root, cfg, seeds)
    if done is not None:
        log.info(f"{root}: finished at these settings and seeds; summary.json reused")
        return done
    logs = root / "logs"
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    shared = RunDir(root)  # the cell's root holds the shared tokenizer and the plots
    real = load_splits(cfg.data)
    run_tokenizer(cfg.model, real, shared.tokenizer)  # one tokenizer for every model (presets: trained here)
    if not a.large:
        sets.append(f"model.tokenizer={shared.tokenizer}")
    gen = generate_stage(a, root, cfg, real, shared, sets, timings, ds) if a.train_data == "generated" else None
    train_cmd = launcher(a.nproc) + HARNESS + ["atlantis", "train", "--ds", ds]

    def stage(run: RunDir, *extra: str) -> tuple[list[str], object]:
        """(the stage's --config/--set arguments, its resolved RunConfig)."""
        more = [*sets, f"run_dir={run.root}", *extra]
        return config_args(more, a.config), load_config(a.config, more)

    qa4re = weak_label_stages(a, root, sets, stage, timings) if a.weak_labels == "qa4re" else None
    cfg = load_config(a.config, sets)  # what the runs train on (generated samples / QA4RE's weak labels change data.*)
    given_reference = a.reference or cfg.model.reference
    per_seed: dict[int, dict] = {}
    for seed in seeds:
        sroot = root / f"seed-{seed}"
        seed_set = f"train.seed={seed}"
        reference = given_reference
        if not reference:
            ref = RunDir(sroot / "reference")
            args, ref_cfg = stage(ref, seed_set, f"model.large={cfg.model.small}", "train.eval_split=dev")
            _same_settings(ref.config, ref_cfg, "train", "reference", root)
            if not _exported(ref):
                timings[f"reference-seed{seed}"] = run_stage(f"reference-seed{seed}", train_cmd + args + _continue(ref),
                                                             logs)
            reference = str(ref.export)
        ref_set = f"model.reference={reference}"
        # the scores do not depend on the seed when every model is given (frozen): one scoring stage for all seeds
        scoring = RunDir((sroot if not given_reference else root) / "scoring")
        weights = scoring.weights
        args, score_cfg = stage(scoring, ref_set)
        _same_settings(scoring.score_config, score_cfg, "score", "scoring", root)
        if not weights.is_file():
            timings[f"scoring-seed{seed}"] = run_stage(f"scoring-seed{seed}", launcher(a.nproc) + HARNESS
                                                       + ["atlantis", "score"] + args, logs)
        runs = {"sft": [], "atlantis": [f"train.weights_file={weights}"]}
        for name, extra in runs.items():
            run = RunDir(sroot / name)
            args, run_cfg = stage(run, seed_set, ref_set, *extra)
            _same_settings(run.config, run_cfg, "train", name, root)
            tag = f"{name}-seed{seed}"
            if not _exported(run):
                timings[tag] = run_stage(tag, train_cmd + args + _continue(run), logs)
            # the test split and, with noisy labels, the run's own training split (does it fit the flipped labels?)
            todo = [x for x, f in (("test", run.eval_json), ("train", run.root / TRAIN_EVAL))
                    if (x == "test" or _noisy(cfg)) and not f.is_file()]
            if todo:
                timings[f"eval-{tag}"] = run_stage(f"eval-{tag}", launcher(a.nproc) + HARNESS + [
                    "atlantis", "eval", "--model", str(run.export), "--split", ",".join(todo),
                    "--out", str(run.root / ("eval.json" if todo[0] == "test" else TRAIN_EVAL))] + args, logs)
        per_seed[seed] = {"root": sroot, "scoring": scoring}

    first = per_seed[seeds[0]]["root"]
    run_dirs = [str(per_seed[s]["root"] / n) for s in seeds for n in ("sft", "atlantis")]
    report("compare", ["atlantis", "compare"] + [x for d in run_dirs for x in ("--run-dir", d)])
    if cfg.train.eval_split:  # the learning curves of the first seed, on the split evaluated during training
        report("curves", ["atlantis", "curves", "--run-dir", str(first / "sft"), "--run-dir", str(first / "atlantis"),
                          "--out", str(shared.plots / "curves.png"), "--split", cfg.train.eval_split])
    scoring = per_seed[seeds[0]]["scoring"]
    report("weight-plots", ["atlantis", "weights", "--weights", str(scoring.weights), "--out-dir", str(shared.plots)]
           + config_args(sets + [f"run_dir={scoring.root}"], a.config))
    return summarize(root, cfg, per_seed, timings, time.perf_counter() - t_start, qa4re, gen)


TRAIN_EVAL = "eval-train.json"  # a run's predictions on its own (noisy) training split
DEFAULT_SEEDS = 3  # the embedded default's seeds (a real run: 1 unless --seeds)


def _noisy(cfg) -> bool:
    return bool(cfg.data.noise_rate > 0 or cfg.data.weak_labels)


def _claim_cell(a, root: Path, cfg, seeds: list[int]) -> dict | None:
    """Record the cell's settings in <root>/experiment.json (a cell recorded at other settings is refused: one line,
    with the way out); return its summary when it already finished at these settings and seeds."""
    import dataclasses

    from harness.cli import InputError
    from harness.manifest import read_json

    flags = {k: getattr(a, k) for k in ("dataset", "data_dir", "large", "small", "reference", "weak_labels",
                                        "labeller", "qa4re_scoring", "train_data", "generator", "gen_config")}
    flags["gen_set"] = list(a.gen_set)
    config = dataclasses.asdict(cfg)
    config.pop("run_dir", None)
    identity = {"flags": flags, "config": json.loads(json.dumps(config))}
    path = root / "experiment.json"
    if path.is_file():
        recorded = read_json(path, "the experiment's settings")
        if recorded != identity:
            diff = _diff(recorded, identity)
            raise InputError(f"{path}: this folder holds an experiment run at other settings ({diff}); pass "
                             f"--overwrite to run it again (deletes {root}), or use another --run-dir")
    else:
        root.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, identity)
    summary = root / "summary.json"
    if summary.is_file():
        done = read_json(summary, "the experiment's summary")
        if done.get("kind") == "cell" and done.get("seeds") == seeds:
            return done
    return None


def _diff(a: dict, b: dict, prefix: str = "") -> str:
    out = []
    for k in sorted(set(a) | set(b)):
        x, y = a.get(k), b.get(k)
        if isinstance(x, dict) and isinstance(y, dict):
            sub = _diff(x, y, f"{prefix}{k}.")
            if sub:
                out.append(sub)
        elif x != y:
            out.append(f"{prefix}{k}: {x!r} then, {y!r} now")
    return "; ".join(out)


def generate_stage(a, root: Path, cfg, real, shared: RunDir, sets: list[str], timings: dict, ds: str) -> Path:
    """Stage "generate" (--train-data generated): gen generate in <root>/generate on the experiment's
    dataset (no noise), then ``sets`` points every later stage at the samples (data.dataset=jsonl; the real
    dataset's label space and template). Rerunning it resumes or, when complete, rewrites the same files; a
    folder generated under other settings is refused. Returns the stage's run folder."""
    import dataclasses

    from harness.data.labels import SPACES
    from harness.models.load import is_preset

    run = root / "generate"
    data = {**dataclasses.asdict(cfg.data), "noise_rate": 0.0, "weak_labels": ""}
    generator = a.generator or cfg.model.large
    gen_sets = [f"data.{k}={v}" for k, v in data.items()] + [
        f"run_dir={run}", f"model.large={generator}", f"model.dtype={cfg.model.dtype}",
        f"model.attn_impl={cfg.model.attn_impl}",
        f"model.tokenizer={shared.tokenizer if is_preset(generator) and shared.tokenizer.is_dir() else ''}"]
    gen_sets = (GEN_DEFAULT_SETS if not a.gen_config else []) + gen_sets + list(a.gen_set)
    warmup_ds = ["--ds", ds] if a.nproc > 1 else []  # the generator warm-up's engine at more than one rank
    cmd = launcher(a.nproc) + HARNESS + ["gen", "generate"] + warmup_ds + config_args(gen_sets, a.gen_config)
    timings["generate"] = run_stage("generate", cmd, root / "logs")
    sets += ["data.dataset=jsonl", f"data.data_dir={run / 'samples'}", "data.noise_rate=0", "data.weak_labels=",
             "data.max_train_examples=0", f"data.template={real.template.name}"]
    if real.label_space.name in SPACES:
        sets.append(f"data.label_space={real.label_space.name}")
    return run


def weak_label_stages(a, root: Path, sets: list[str], stage, timings: dict) -> RunDir:
    """Stage 0 (--weak-labels qa4re): QA4RE weak labels of the training split (and the labeller's zero-shot test
    figures) in <root>/labeller/qa4re/; then ``sets`` gets ``data.weak_labels`` (and no uniform noise) for every later
    stage. Returns the QA4RE run folder."""
    run = RunDir(root / "labeller")
    files = run.qa4re
    args, _ = stage(run, "data.noise_rate=0")
    cmd = launcher(a.nproc) + HARNESS + ["qa4re"]
    model = ["--model", a.labeller] if a.labeller else []
    opts = model + ["--scoring", a.qa4re_scoring]
    if not files.weak_labels.is_file():
        timings["qa4re-label"] = run_stage("qa4re-label", cmd + ["label"] + args + opts, Path(root / "logs"))
    if not files.metrics("test").is_file():
        timings["qa4re-eval"] = run_stage("qa4re-eval", cmd + ["eval", "--split", "test"] + args + opts,
                                          Path(root / "logs"))
    sets += ["data.noise_rate=0", f"data.weak_labels={files.weak_labels}"]
    return run


def _exported(run: RunDir) -> bool:
    """The training stage of ``run`` finished: its Hugging Face export exists."""
    from harness.train.checkpoint import restart_mode

    return restart_mode(run) == "done"


def _continue(run: RunDir) -> list[str]:
    """The restart flag of an unfinished training stage (harness.train.checkpoint.restart_mode)."""
    from harness.train.checkpoint import restart_mode

    return {"resume": ["--resume"], "overwrite": ["--overwrite"]}.get(restart_mode(run), [])


def _same_settings(recorded, cfg, stage: str, name: str, root: Path) -> None:
    """A stage's earlier output is reused (or resumed) only when it was made with the same settings."""
    from harness.runstate import check_same_config

    if recorded.is_file():  # a mismatch is an InputError: one line, exit 2 (harness.cli.run_main)
        check_same_config(recorded, cfg, stage, what=f"the {name} stage",
                          way_out=f"pass --overwrite to run the experiment again (deletes {root}), or use another --run-dir")


def summarize(root: Path, cfg, per_seed: dict[int, dict], timings: dict, total_s: float,
              qa4re: RunDir | None = None, gen: Path | None = None) -> dict:
    """The cell's report: per-seed table (macro-F1 of SFT and ATLANTIS, their difference, noise-detection ROC-AUC of
    the weights, how much of the flipped training labels each run fits), mean +- sd per method, the paired
    difference with its 95% t interval over seeds and the two-level paired bootstrap (harness.eval.intervals), the
    seed plot, and summary.json holding every figure."""
    from harness.eval.evaluate import read_eval_json
    from harness.eval.intervals import codes, format_interval, mean_sd, paired_bootstrap, t_interval
    from harness.eval.plots import plot_seed_differences
    from harness.manifest import read_manifest

    train = _train_examples(cfg) if _noisy(cfg) else None
    seeds = sorted(per_seed)
    rows, out, boot_in = [], {}, []
    for seed in seeds:
        sroot, scoring = per_seed[seed]["root"], per_seed[seed]["scoring"]
        manifest = scoring.weights_manifest
        wstats = read_manifest(manifest).get("stats", {}) if manifest.is_file() else {}
        rec: dict = {"weights": wstats, "noise_auc": wstats.get("roc_auc_clean_vs_noisy"), "noisy_fit": {}}
        evals = {}
        for name in ("sft", "atlantis"):
            ev = evals[name] = read_eval_json(RunDir(sroot / name).eval_json)
            rec[name] = {k: ev.get(k) for k in ("accuracy", "macro_f1", "official", "n_invalid")}
            if train is not None:
                rec["noisy_fit"][name] = noisy_fit(read_eval_json(sroot / name / TRAIN_EVAL), train)
        rec["difference"] = 100 * (rec["atlantis"]["macro_f1"] - rec["sft"]["macro_f1"])
        labels = evals["sft"]["confusion"]["rows_gold"]  # the label space, in order
        gold = [p["gold"] for p in evals["sft"]["predictions"]]
        if [p["id"] for p in evals["sft"]["predictions"]] != [p["id"] for p in evals["atlantis"]["predictions"]]:
            raise RuntimeError(f"{sroot}: SFT and ATLANTIS were evaluated on different test examples")
        boot_in.append(tuple(codes(labels, gold, [p["pred"] for p in evals["atlantis"]["predictions"]],
                                   [p["pred"] for p in evals["sft"]["predictions"]])))
        out[str(seed)] = rec
        fit = rec["noisy_fit"].get("sft", {}).get("fits_noisy")
        rows.append([seed, 100 * rec["sft"]["macro_f1"], 100 * rec["atlantis"]["macro_f1"], rec["difference"],
                     "-" if rec["noise_auc"] is None else rec["noise_auc"], "-" if fit is None else 100 * fit])
    interval = t_interval([out[str(s)]["difference"] for s in seeds])
    boot = paired_bootstrap(boot_in, len(labels))
    methods = {m: mean_sd([100 * out[str(s)][m]["macro_f1"] for s in seeds]) for m in ("sft", "atlantis")}
    aucs = [out[str(s)]["noise_auc"] for s in seeds if out[str(s)]["noise_auc"] is not None]
    fits = {m: mean_sd([out[str(s)]["noisy_fit"][m]["fits_noisy"] for s in seeds])
            for m in ("sft", "atlantis") if train is not None}
    log.table(f"test split (label ranking), {len(seeds)} seed(s)", ["seed", "SFT macro-F1 %", "ATLANTIS macro-F1 %",
              "ATLANTIS - SFT (pts)", "weights ROC-AUC (noisy vs clean)", "SFT fits flipped labels %"], rows)
    log.table("over seeds", ["method", "macro-F1 % mean", "sd", "n"],
              [[m, v["mean"], "-" if v["sd"] is None else v["sd"], v["n"]] for m, v in methods.items()])
    log.info(f"ATLANTIS - SFT: {format_interval(interval)}; {format_interval(boot)}")
    summary = {"kind": "cell", "seeds": seeds, "per_seed": out, "methods": methods, "difference": interval, "bootstrap": boot,
               "noise_auc": mean_sd(aucs) if aucs else None, "noisy_fit": fits, "timings_s": timings,
               "total_s": total_s, "test_examples": len(boot_in[0][0])}
    plot = plot_seed_differences({str(s): {"sft": 100 * out[str(s)]["sft"]["macro_f1"],
                                           "atlantis": 100 * out[str(s)]["atlantis"]["macro_f1"],
                                           "difference": out[str(s)]["difference"]} for s in seeds},
                                 interval, RunDir(root).plots / "seeds.png", bootstrap=boot)
    summary["plot"] = str(plot)
    if qa4re is not None:
        summary["qa4re"] = _qa4re_summary(qa4re)
    if gen is not None:
        summary["generate"] = _gen_summary(gen)
    atomic_write_json(root / "summary.json", summary)
    log.info(f"summary -> {root / 'summary.json'}; plots -> {RunDir(root).plots}; total {total_s:.0f}s")
    return summary


def _train_examples(cfg) -> dict:
    """id -> (gold label, training label, is_noisy) of the training split as every run of the cell trains on it."""
    from harness.data.dataset import load_splits

    return {ex.id: (ex.label, ex.train_label, ex.is_noisy) for ex in load_splits(cfg.data).train}


def noisy_fit(ev: dict, train: dict) -> dict:
    """On the flipped training examples (training label != gold): the fraction predicted as their (wrong) training
    label (``fits_noisy``: memorisation of the noise) and as their gold label (``recovers_gold``)."""
    flipped = [(p["pred"], train[p["id"]]) for p in ev["predictions"] if train[p["id"]][2]]
    n = len(flipped)
    return {"n_flipped": n, "fits_noisy": sum(p == t for p, (_, t, _) in flipped) / n if n else None,
            "recovers_gold": sum(p == g for p, (g, _, _) in flipped) / n if n else None}


def summarize_sweep(root: Path, sweep, seeds: list[int], cells: list[dict], total_s: float) -> None:
    """The ablation table (one row per cell: swept values, mean macro-F1 per method, the paired difference with its
    t interval over seeds), one plot per swept key (plots/sweep-<key>.png) and <root>/summary.json."""
    from harness.eval.plots import plot_sweep

    keys = [k for k, _ in sweep]
    rows = []
    for c in cells:
        d = c["difference"]
        iv = "-" if d["lo"] is None else f"[{d['lo']:+.2f}, {d['hi']:+.2f}]"
        auc = "-" if c["noise_auc"] is None else c["noise_auc"]["mean"]
        rows.append([*(c["values"][k] for k in keys), c["methods"]["sft"]["mean"], c["methods"]["atlantis"]["mean"],
                     d["mean"], iv, auc])
    log.table(f"ablation, {len(seeds)} seed(s) per cell", [*keys, "SFT macro-F1 %", "ATLANTIS macro-F1 %",
              "ATLANTIS - SFT (pts)", "95% t interval", "weights ROC-AUC"], rows)
    plots = [str(plot_sweep(cells, k, RunDir(root).plots / f"sweep-{k}.png")) for k in keys]
    atomic_write_json(root / "summary.json", {"sweep": {k: v for k, v in sweep}, "seeds": seeds, "cells": cells,
                                              "plots": plots, "total_s": total_s})
    log.info(f"sweep summary -> {root / 'summary.json'}; plots {', '.join(plots)}")


def _gen_summary(run: Path) -> dict:
    """The generated samples' counts and overall diversity figures."""
    from harness.manifest import read_json
    from harness.recipes.gen.files import GenFiles

    files = GenFiles(run)
    return {"counts": read_json(files.manifest, "generation manifest")["counts"],
            "overall": read_json(files.metrics, "generation metrics")["overall"], "samples": str(files.samples)}


def _qa4re_summary(run: RunDir) -> dict:
    """The labeller's zero-shot test figures and its weak labels' agreement with gold on the training split."""
    from harness.manifest import read_json

    test = read_json(run.qa4re.metrics("test"), "QA4RE metrics")
    train = read_json(run.qa4re.metrics("train"), "QA4RE metrics")
    rows = [[split, m["n"], 100 * m["micro_f1"], 100 * m["accuracy"], "-" if m["official"] is None else m["official"]]
            for split, m in (("test (zero-shot)", test), ("train (weak labels vs gold)", train))]
    log.table("QA4RE labeller", ["split", "n", "micro-F1 % (no NoTA)", "accuracy %", "SemEval official %"], rows)
    keep = ("n", "micro", "micro_f1", "accuracy", "official", "scoring", "model")
    return {"test": {k: test.get(k) for k in keep}, "train_weak_labels": {k: train.get(k) for k in keep},
            "weak_labels": str(run.qa4re.weak_labels)}

