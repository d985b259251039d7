"""The main job: the whole ATLANTIS experiment (``python -m harness atlantis experiment``), each stage through the
one command line (``python -m harness <recipe> <command>``) in a process of its own.

    bash scripts/main.sh                                    # embedded default: synthetic data, tiny models
    bash scripts/main.sh --dataset semeval --data-dir ../shared/data/semeval2010_task8 \
        --large /ckpt/Qwen2-7B --small /ckpt/Qwen2-0.5B --reference /ckpt/Qwen2-0.5B-Instruct \
        --ds ds_configs/zero3.json --nproc 8 --noise 0.3

Stages (each writes into <root>/<stage>/ (<root>: --run-dir) and is skipped when its output exists, so an interrupted experiment
resumes where it stopped; a training stage interrupted mid-run resumes from its latest complete checkpoint):
  1. reference  fine-tune the small model on the training split (only when --reference is not given)
  2. scoring    log p_L, log p_S, log p_ref of every training label (atlantis score), then weights.f32
  3. sft        plain SFT of the large model (atlantis train under DeepSpeed ZeRO-3)
  4. atlantis   the same run with the importance weights
  5. eval       each exported model on the test split (atlantis eval), then the side-by-side table,
                learning curves and weight plots (atlantis compare / curves / weights)
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
    "data.synthetic_size=640",  # training examples (test = 160)
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


def _die_with_parent() -> None:
    """In a stage's launcher (preexec): SIGTERM when the experiment dies, so a kill -9 of the experiment leaves no
    launcher behind (torchrun passes SIGTERM to its workers; they also watch their launcher: harness.dist)."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def run_stage(name: str, cmd: list[str], log_dir: Path) -> float:
    """Run one stage's entry point, mirroring its output to the console and <root>/logs/<name>.log."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log.info(f"[bold]stage {name}[/bold]: {' '.join(cmd)}")
    t0 = time.perf_counter()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with (log_dir / f"{name}.log").open("a") as f, subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=_die_with_parent,
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


def config_args(sets: list[str], config: str | None = None) -> list[str]:
    out = ["--config", config] if config else []
    for s in sets:
        out += ["--set", s]
    return out


def run_experiment(a) -> int:
    """``python -m harness atlantis experiment``: ``a`` holds its parsed flags."""
    if a.weak_labels and a.noise is not None:
        from harness.cli import InputError

        raise InputError("--weak-labels qa4re trains on QA4RE's labels; it cannot be combined with --noise")
    if a.weak_labels and a.train_data == "generated":
        from harness.cli import InputError

        raise InputError("--weak-labels qa4re labels the real training split; it cannot be combined with "
                         "--train-data generated")
    import torch

    root = (ROOT / a.run_dir) if not Path(a.run_dir).is_absolute() else Path(a.run_dir)
    if a.overwrite and root.exists():
        import shutil

        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    ds = a.ds or ("ds_configs/zero3.json" if torch.cuda.is_available() else "ds_configs/cpu_test.json")
    sets = base_sets(a)
    logs = root / "logs"
    timings: dict[str, float] = {}
    t_start = time.perf_counter()

    # One tokenizer for every model of the experiment (presets: trained here, deterministic).
    from harness.config import load_config
    from harness.data.dataset import load_splits
    from harness.models.tokenizer import run_tokenizer

    cfg = load_config(a.config, sets)
    shared = RunDir(root)  # the experiment root holds the shared tokenizer and the plots
    real = load_splits(cfg.data)
    run_tokenizer(cfg.model, real, shared.tokenizer)
    if not a.large:
        sets.append(f"model.tokenizer={shared.tokenizer}")
    gen = generate_stage(a, root, cfg, real, shared, sets, timings, ds) if a.train_data == "generated" else None
    train_cmd = launcher(a.nproc) + HARNESS + ["atlantis", "train", "--ds", ds]

    def stage(run: RunDir, *extra: str) -> tuple[list[str], object]:
        """(the stage's --config/--set arguments, its resolved RunConfig)."""
        more = [*sets, f"run_dir={run.root}", *extra]
        return config_args(more, a.config), load_config(a.config, more)

    qa4re = weak_label_stages(a, root, sets, stage, timings) if a.weak_labels == "qa4re" else None
    reference = a.reference
    if not reference:
        ref = RunDir(root / "reference")
        args, ref_cfg = stage(ref, f"model.large={cfg.model.small}", "train.eval_split=dev")
        _same_settings(ref.config, ref_cfg, "train", "reference", root)
        if not _exported(ref):
            timings["reference"] = run_stage("reference", train_cmd + args + _continue(ref), logs)
        reference = str(ref.export)
    sets.append(f"model.reference={reference}")

    scoring = RunDir(root / "scoring")
    weights = scoring.weights
    args, score_cfg = stage(scoring)
    _same_settings(scoring.score_config, score_cfg, "score", "scoring", root)
    if not weights.is_file():
        timings["scoring"] = run_stage("scoring", launcher(a.nproc) + HARNESS + ["atlantis", "score"] + args, logs)

    runs = {"sft": [], "atlantis": [f"train.weights_file={weights}"]}
    for name, extra in runs.items():
        run = RunDir(root / name)
        args, run_cfg = stage(run, *extra)
        _same_settings(run.config, run_cfg, "train", name, root)
        if not _exported(run):
            timings[name] = run_stage(name, train_cmd + args + _continue(run), logs)
        if not run.eval_json.is_file():
            timings[f"eval-{name}"] = run_stage(f"eval-{name}", launcher(a.nproc) + HARNESS + [
                "atlantis", "eval", "--model", str(run.export), "--split", "test"] + args, logs)

    run_dirs = [str(root / n) for n in runs]
    atlantis = [sys.executable, *HARNESS, "atlantis"]
    dirs = [a for d in run_dirs for a in ("--run-dir", d)]
    run_stage("compare", atlantis + ["compare"] + dirs, logs)
    run_stage("curves", atlantis + ["curves"] + dirs + ["--out", str(shared.plots / "curves.png"),
                                                        "--split", "test"], logs)
    run_stage("weight-plots", atlantis + ["weights", "--weights", str(weights), "--out-dir", str(shared.plots)]
              + config_args(sets + [f"run_dir={scoring.root}"], a.config), logs)
    summarize(root, run_dirs, scoring, timings, time.perf_counter() - t_start, qa4re, gen)
    return 0


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


def summarize(root: Path, run_dirs: list[str], scoring: RunDir, timings: dict, total_s: float,
              qa4re: RunDir | None = None, gen: Path | None = None) -> None:
    """The experiment's side-by-side table (macro-F1, weight statistics, noise-detection AUC) + summary.json."""
    from harness.eval.evaluate import read_eval_json
    from harness.manifest import read_manifest

    manifest = scoring.weights_manifest
    wstats = read_manifest(manifest).get("stats", {}) if manifest.is_file() else {}
    rows, summary = [], {"runs": {}, "weights": wstats, "timings_s": timings, "total_s": total_s}
    for rd in run_dirs:
        ev = read_eval_json(RunDir(rd).eval_json)
        name = Path(rd).name
        summary["runs"][name] = {k: ev.get(k) for k in ("accuracy", "macro_f1", "official", "n_invalid")}
        rows.append([name, 100 * ev["macro_f1"], 100 * ev["accuracy"],  # official is already a percentage
                     "-" if ev.get("official") is None else ev["official"]])
    log.table("test split (label ranking)", ["run", "macro-F1 %", "accuracy %", "SemEval official %"], rows)
    keys = ["min", "max", "std", "ess", "ess_fraction", "fraction_clipped", "roc_auc_clean_vs_noisy"]
    log.table("ATLANTIS weights (training split)", keys, [[wstats.get(k, "-") for k in keys]])
    if qa4re is not None:
        summary["qa4re"] = _qa4re_summary(qa4re)
    if gen is not None:
        summary["generate"] = _gen_summary(gen)
    atomic_write_json(root / "summary.json", summary)
    log.info(f"summary -> {root / 'summary.json'}; plots -> {RunDir(root).plots}; total {total_s:.0f}s")


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

