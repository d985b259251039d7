"""The generation stage's config (gen generate): ``load_config(path, overrides, cls=GenRunConfig)``.

The data section is the harness's ``DataConfig``: the label space (the relations to generate for), the gold seed
demonstrations (from the training split, gold labels) and the real test split come from the chosen dataset. The
generator is ``model.large`` (a preset such as tiny-qwen2 or a local causal checkpoint) with ``model.tokenizer``.

Completions per step, one field per mode so that neither means two things: one-by-one draws
``gen.candidates_per_step`` (default 1, the paper's procedure: one sample per step; > 1 is best-of-k, this project's
extension, which keeps the candidate least similar to the window and so raises diversity by selection, not by the
prompt); batch draws ``gen.k`` (0 = ``samples_per_relation``). Setting the other mode's field is refused
(``check_gen_config``), since before issue 24 ``gen.k`` was one-by-one's candidate count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.config import NOT_RESULT, BaseConfig

MODES = ("one-by-one", "batch")


@dataclass(frozen=True, kw_only=True)
class GenConfig:
    mode: str = "one-by-one"  # one-by-one (window of accepted samples) | batch (fixed demonstrations, the baseline)
    samples_per_relation: int = 8  # accepted samples wanted per relation (a relation stops once it has them)
    max_steps: int = 0  # prompts per relation at most (0 = 4 x the steps samples_per_relation needs)
    candidates_per_step: int = 1  # one-by-one: completions drawn per step. 1 = the paper's one-by-one (the one
    #   sample is judged; a valid, new one joins the window); > 1 = best-of-k, this project's extension, not the
    #   paper's: of the step's valid candidates the one least similar to the window is kept (1 under batch)
    k: int = 0  # batch only: completions per prompt, every valid one kept (0 = samples_per_relation: one prompt
    #   draws the relation's whole batch); must stay 0 under one-by-one (its count is candidates_per_step)
    window: int = 4  # one-by-one: demonstrations in the prompt = the last `window` accepted samples (gold seeds first)
    seed_gold: int = 2  # gold training examples per relation that seed the demonstrations (0 = none)
    gold_per_relation: int = 0  # gold training examples per relation added to the generated training set
    temperature: float = 1.0  # sampling temperature; 0 = greedy decoding
    top_p: float = 0.95  # nucleus sampling mass in (0, 1]
    max_new_tokens: int = 64  # tokens per completion at most (a completion also ends at its first newline)
    seed: int = 0  # sampling seed (each completion's generator is seeded from (seed, relation, step, candidate))
    batch_size: int = field(default=16, metadata=NOT_RESULT)  # completions per generate call (does not change
    #   the samples)
    relations: str = ""  # comma list of labels to generate for ("" = every label; commas inside (...) are the label's)
    dev_fraction: float = 0.1  # fraction of the generated samples held out as samples/dev.jsonl (seeded by seed)
    # generator warm-up (harness.recipes.gen.warmup): SFT of model.large on gold generation lines before generating
    warmup_epochs: int = 0  # 0 = off (a real checkpoint generates as it is); > 0: epochs over the warm-up examples
    warmup_lr: float = 2e-5  # peak learning rate of the warm-up (cosine, 10% linear warm-up)
    warmup_per_relation: int = 8  # gold examples per relation that are warm-up answers (0 = all of the relation's)
    warmup_prompts: int = 1  # prompts (demonstration sets) per warm-up answer
    warmup_micro_batch: int = 8  # warm-up examples per micro-batch per rank


@dataclass(frozen=True, kw_only=True)
class GenRunConfig(BaseConfig):
    """The config base (model: the generator; data: the relations, gold demonstrations and test split) + ``gen``.
    The ``train`` section is not read here: the warm-up has its own ``gen.warmup_*`` settings."""
    run_dir: str = field(default="runs/gen", metadata=NOT_RESULT)  # everything the stage writes lands here
    #   (see harness.recipes.gen.files.GenFiles)
    gen: GenConfig = field(default_factory=GenConfig)


RESULT_SECTIONS = ("data", "model", "gen")  # what the samples depend on (harness.config.settings)


def check_gen_config(cfg: GenRunConfig) -> None:
    """Refuse settings the stage cannot run (an InputError: one line, exit 2)."""
    from harness.config import ConfigError

    g = cfg.gen
    bad = []
    if g.mode not in MODES:
        bad.append(f"gen.mode={g.mode!r}: expected one of {MODES}")
    for name in ("samples_per_relation", "candidates_per_step", "window", "batch_size", "max_new_tokens"):
        if getattr(g, name) < 1:
            bad.append(f"gen.{name}={getattr(g, name)}: must be >= 1")
    if g.mode == "one-by-one" and g.k != 0:
        bad.append(f"gen.k={g.k} is batch mode's completions per prompt; under gen.mode=one-by-one set "
                   "gen.candidates_per_step instead (1 = the paper's one-by-one, > 1 = best-of-k, this project's "
                   "extension) and leave gen.k at 0")
    if g.mode == "batch" and g.candidates_per_step != 1:
        bad.append(f"gen.candidates_per_step={g.candidates_per_step} is one-by-one's best-of-k; gen.mode=batch "
                   "draws gen.k completions per prompt (0 = samples_per_relation) and keeps every valid one")
    for name in ("k", "max_steps", "seed_gold", "gold_per_relation", "warmup_epochs", "warmup_per_relation"):
        if getattr(g, name) < 0:
            bad.append(f"gen.{name}={getattr(g, name)}: must be >= 0")
    if min(g.warmup_micro_batch, g.warmup_prompts) < 1 or not g.warmup_lr > 0:
        bad.append(f"gen.warmup_micro_batch={g.warmup_micro_batch} and gen.warmup_prompts={g.warmup_prompts} must be "
                   f">= 1 and gen.warmup_lr={g.warmup_lr} > 0")
    if g.temperature < 0 or not 0 < g.top_p <= 1:
        bad.append(f"gen.temperature={g.temperature} must be >= 0 and gen.top_p={g.top_p} in (0, 1]")
    if not 0 <= g.dev_fraction < 1:
        bad.append(f"gen.dev_fraction={g.dev_fraction}: must be in [0, 1)")
    if bad:
        raise ConfigError("; ".join(bad))


def per_step(g: GenConfig) -> int:
    """Completions drawn per step of one relation: ``gen.candidates_per_step`` (one-by-one) or ``gen.k`` (batch;
    0 = ``samples_per_relation``)."""
    if g.mode == "one-by-one":
        return g.candidates_per_step
    return g.k or g.samples_per_relation


def max_steps(g: GenConfig) -> int:
    """Prompts per relation at most: ``gen.max_steps``, or 4 x the steps ``samples_per_relation`` needs (one-by-one
    accepts at most one sample per step, batch at most ``per_step``)."""
    if g.max_steps:
        return g.max_steps
    accepted_per_step = 1 if g.mode == "one-by-one" else per_step(g)
    return 4 * -(-g.samples_per_relation // accepted_per_step)
