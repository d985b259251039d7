"""The generation stage's config (gen generate): ``load_config(path, overrides, cls=GenRunConfig)``.

The data section is the harness's ``DataConfig``: the label space (the relations to generate for), the gold seed
demonstrations (from the training split, gold labels) and the real test split come from the chosen dataset. The
generator is ``model.large`` (a preset such as tiny-qwen2 or a local causal checkpoint) with ``model.tokenizer``.
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
    k: int = 2  # completions sampled per prompt (one-by-one: candidates of one step, one accepted; batch: all kept)
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
    for name in ("samples_per_relation", "k", "window", "batch_size", "max_new_tokens"):
        if getattr(g, name) < 1:
            bad.append(f"gen.{name}={getattr(g, name)}: must be >= 1")
    for name in ("max_steps", "seed_gold", "gold_per_relation", "warmup_epochs", "warmup_per_relation"):
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


def max_steps(g: GenConfig) -> int:
    """Prompts per relation at most: ``gen.max_steps``, or 4 x the steps ``samples_per_relation`` needs."""
    if g.max_steps:
        return g.max_steps
    per_step = 1 if g.mode == "one-by-one" else g.k
    return 4 * -(-g.samples_per_relation // per_step)
