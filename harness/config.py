"""The config base every task extends (TRL's pattern), its sections, JSON load, ``--set section.key=value``
overrides, dump, and the one definition of "the settings that change results".

``BaseConfig``: ``run_dir`` + the ``model``, ``data``, ``train`` and ``dist`` sections. A task's config subclasses it
and adds its own sections (``RunConfig``: scoring, weights, eval, dpo; ``harness.recipes.gen.config.GenRunConfig``: gen;
``harness.recipes.docre.config.DocREConfig``: prompts, lora, decode, rcp), or narrows a section's type (DocRE's data and
train). One grammar reaches every field: ``--config C --set section.key=value`` (a misspelled field gets "did you
mean"). Every field has a default and a comment with its unit. A field that never changes a stage's results (where
things are written, how often to log / save / evaluate, batch sizes of no-grad passes) says so where it is
declared, with ``metadata=NOT_RESULT``; ``settings(cfg, sections)`` is the flat ``{"section.key": value}`` of the
others, and harness.runstate's ``check_settings`` is the one "do the recorded settings match?" check every stage
uses. A run's resolved config is written to its run directory at start (``dump``).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path

from harness.cli import InputError

NOT_RESULT = {"result": False}  # field metadata: the field never changes a stage's results (see the module doc)


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    dataset: str = "synthetic"  # a name in harness.data.registry.DATASETS (synthetic = embedded, no files)
    data_dir: str = ""  # folder holding the dataset files ("" = embedded synthetic set)
    label_space: str = ""  # semeval19 | semeval10 | conll04 | conll04_all ("" = dataset default)
    conll04_mode: str = "gold-pairs"  # gold-pairs | all-pairs
    noise_rate: float = 0.0  # fraction of training labels relabelled uniformly at random, in [0, 1)
    noise_seed: int = 0  # seed of the corruption
    weak_labels: str = ""  # CSV/JSONL file of weak labels keyed by example id ("" = none)
    dev_fraction: float = 0.1  # SemEval: fraction of TRAIN_FILE held out as a seeded dev split
    split_seed: int = 13  # seed of the dev split
    template: str = ""  # prompt template name ("" = dataset default)
    max_train_examples: int = 0  # 0 = all; else keep the first N (in file order) for quick runs
    max_eval_examples: int = 0  # 0 = all
    synthetic_size: int = 600  # synthetic set: training examples (test is a quarter of this)
    synthetic_test_size: int = 0  # synthetic set: test examples (0 = a quarter of synthetic_size)
    synthetic_seed: int = 0  # synthetic set: generator seed


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    large: str = "tiny-qwen2"  # large base model: local checkpoint path, or tiny-qwen2 | tiny-t5
    small: str = "tiny-qwen2-small"  # small base model (ATLANTIS p_S)
    reference: str = ""  # reference model p_ref ("" = small model fine-tuned on the training split)
    tokenizer: str = ""  # tokenizer path ("" = the large checkpoint's; tiny models build one from text)
    dtype: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | float32 | bfloat16
    attn_impl: str = "auto"  # auto (flash_attention_2 if installed on CUDA, else sdpa) | sdpa | sdpa_segments | eager
    quantize: str = ""  # frozen scorers only: "" | 8bit | 4bit (bitsandbytes)


@dataclass(frozen=True, kw_only=True)
class ScoringConfig:
    tokens_per_batch: int = 4096  # token budget per scoring batch (prompt + label tokens; padded rows count padding)
    packing: bool = True  # causal models: pack each batch's examples into rows (harness.recipes.atlantis.scoring.score); seq2seq pads
    out_dir: str = "scores"  # under the run directory
    models: str = ""  # comma list of roles to score (large,small,reference); "" = large, small (+ reference if set)


@dataclass(frozen=True, kw_only=True)
class WeightsConfig:
    formula: str = "atlantis"  # atlantis | influence | ratio | uniform
    reduction: str = "sum"  # sum (sequence log-likelihood) | mean (per label token)
    clip_lo: float = 0.1  # lower clip of mean-1 weights (seed paper); <= 0 disables clipping
    clip_hi: float = 5.0  # upper clip of mean-1 weights (seed paper); <= 0 disables clipping
    clip_mode: str = "once"  # once | iterate | exact (see harness.recipes.atlantis.scoring.weights)


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    epochs: int = 3  # passes over the training split
    micro_batch: int = 8  # examples per micro-batch per rank
    packing: bool = True  # causal models: pack each micro-batch's examples into rows (no padding FLOPs); seq2seq pads
    tokens_per_micro_batch: int = 1024  # packing: max tokens per packed row (a micro-batch's examples fill the
    #   fewest rows, balanced, padded to the longest; a longer example gets its own row). Under sdpa/eager a row
    #   costs row^2 attention whatever its examples (flash-attn's varlen kernel does not), hence rows of 1024
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = 2e-5  # peak learning rate
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    warmup_ratio: float = 0.03  # fraction of steps of linear warm-up
    warmup_steps: int = 0  # optimizer steps of linear warm-up (> 0 overrides warmup_ratio; 0 = use warmup_ratio)
    schedule: str = "cosine"  # cosine | linear | constant (after warm-up)
    grad_clip: float = 1.0  # max global grad norm; <= 0 disables
    norm_mode: str = "sequence"  # token | example | sequence (see harness.train.normaliser)
    optimizer: str = "adamw"  # adamw | adamw8bit (bitsandbytes)
    seed: int = 0  # data order and init seed
    eval_every: int = field(default=0, metadata=NOT_RESULT)  # optimizer steps between evaluations; 0 = once per
    #   epoch
    save_every: int = field(default=0, metadata=NOT_RESULT)  # optimizer steps between checkpoints; 0 = once per
    #   epoch
    keep_checkpoints: int = field(default=2, metadata=NOT_RESULT)  # complete checkpoints kept on disk (the newest N;
    #   0 = keep all)
    log_every: int = field(default=1, metadata=NOT_RESULT)  # optimizer steps between metric lines
    tensorboard: bool = field(default=False, metadata=NOT_RESULT)  # also write the metric and eval records as
    #   TensorBoard events (<run_dir>/tensorboard)
    activation_checkpointing: bool = False  # recompute activations in backward
    weights_file: str = ""  # weights.f32 from the scoring stage ("" = plain SFT)
    loss_impl: str = "auto"  # auto | chunked | triton | reference
    eval_split: str = field(default="dev", metadata=NOT_RESULT)  # split evaluated during training: dev | test | ""
    #   (no evaluation)


@dataclass(frozen=True, kw_only=True)
class EvalConfig:
    method: str = "rank"  # rank (exact label ranking) | generate (greedy decoding)
    batch_examples: int = field(default=16, metadata=NOT_RESULT)  # examples per ranking batch
    max_new_tokens: int = 16  # generation only


@dataclass(frozen=True, kw_only=True)
class DPOConfig:
    """Preference optimisation (harness.recipes.dpo.objective): the policy is ``model.large``, trained by ``train.*``
    (``train.micro_batch`` counts PAIRS per micro-batch per rank: 2x that many sequences)."""
    loss: str = "dpo"  # dpo (sigmoid, Rafailov et al. 2023) | ipo (squared, Azar et al. 2023)
    beta: float = 0.1  # > 0, unitless: DPO's inverse temperature of the implicit reward beta*log(pi/ref);
    #   IPO's regulariser (the loss pulls the log-ratio margin h to 1/(2*beta) nats)
    label_smoothing: float = 0.0  # conservative DPO (dpo only): assumed probability in [0, 0.5) that a pair's
    #   preference is flipped; 0 = plain DPO
    ipo_average: bool = True  # ipo: log-probs averaged per label token (nats/token, as TRL); false: summed (nats)
    pairs_file: str = ""  # preference pairs JSONL (format: harness.recipes.dpo.preference); required
    reference: str = ""  # reference model: preset or checkpoint path ("" = model.large, the policy's own start)
    ref_scores: str = field(default="", metadata=NOT_RESULT)  # folder of the reference log-prob memmaps ("" = <run_dir>/dpo_ref)
    ref_tokens_per_batch: int = 4096  # reference scoring pass: tokens per packed batch (prompt + completion)


@dataclass(frozen=True, kw_only=True)
class DistConfig:
    timeout_s: float = field(default=0.0, metadata=NOT_RESULT)  # process-group timeout, seconds (0 = torch's
    #   default, 30 min; --dist-timeout overrides); bounds the host (gloo) group too


@dataclass(frozen=True, kw_only=True)
class BaseConfig:
    """What every task's config holds; a task subclasses it and adds its sections."""
    run_dir: str = field(default="runs/default", metadata=NOT_RESULT)  # everything the run writes lands here
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    dist: DistConfig = field(default_factory=DistConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def dump(self, path: str | Path) -> None:
        from harness.run import atomic_write_json

        atomic_write_json(path, self.to_dict())


@dataclass(frozen=True, kw_only=True)
class RunConfig(BaseConfig):
    """ATLANTIS / SFT (scoring, weights, training, evaluation) and DPO."""
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    weights: WeightsConfig = field(default_factory=WeightsConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    dpo: DPOConfig = field(default_factory=DPOConfig)


_UNSET = object()


def settings(cfg, sections=None, cls=None) -> dict:
    """The fields of ``cfg`` that change results, flat: ``{"section.key": value}`` (top-level fields by name),
    limited to ``sections`` when given. ``cfg`` is a config dataclass, or a recorded config dict read against
    ``cls`` (the current config's class); a field the dict lacks is left out (a diff shows it as unset)."""
    cls = cls or type(cfg)
    d = json.loads(json.dumps(cfg if isinstance(cfg, dict) else dataclasses.asdict(cfg)))  # tuples as lists
    return _settings(cls, d, "", sections)


def _settings(cls, d: dict, prefix: str, sections) -> dict:
    hints, out = typing.get_type_hints(cls), {}
    for f in dataclasses.fields(cls):
        if f.metadata.get("result", True) is False or (sections is not None and f.name not in sections):
            continue
        typ, val = hints[f.name], d.get(f.name, _UNSET)
        if dataclasses.is_dataclass(typ):
            out.update(_settings(typ, val if isinstance(val, dict) else {}, f"{prefix}{f.name}.", None))
        elif val is not _UNSET:
            out[prefix + f.name] = val
    return out


class ConfigError(InputError):
    """A config file or override names an unknown field or holds a value of the wrong type (an ``InputError``:
    the entry points print its one-line message and exit with status 2)."""


def _field_paths(cls, prefix: str = "") -> list[str]:
    """Every settable dotted field of ``cls``, sections recursed: ``run_dir``, ``train.lr``, ..."""
    hints = typing.get_type_hints(cls)
    out: list[str] = []
    for f in dataclasses.fields(cls):
        typ, name = hints[f.name], prefix + f.name
        out += _field_paths(typ, name + ".") if dataclasses.is_dataclass(typ) else [name]
    return out


def _close_fields(key: str, i: int, node_cls, root_cls) -> list[str]:
    """Dotted fields close to ``key`` whose ``i``-th part is not a field of ``node_cls``, best first: the
    section's own fields when the section is right (train.lrr -> train.lr), else any dotted field (trian.lr ->
    train.lr), else the fields of that name in another section (lr, data.lr -> train.lr)."""
    parts = key.split(".")
    paths = _field_paths(root_cls)
    if i > 0:
        names = [f.name for f in dataclasses.fields(node_cls)]
        close = [".".join(parts[:i] + [c]) for c in difflib.get_close_matches(parts[i], names, n=3)]
    else:
        close = difflib.get_close_matches(key, paths, n=3)
    return close or [p for p in paths if p.rsplit(".", 1)[-1] == parts[-1]][:3]


def _unknown_field(key: str, i: int, node_cls, root_cls) -> ConfigError:
    """The error of ``--set key=...`` whose ``i``-th part is not a field of ``node_cls``."""
    close = _close_fields(key, i, node_cls, root_cls)
    hint = (f"did you mean {' or '.join(close)}?" if close
            else f"{node_cls.__name__} has {sorted(f.name for f in dataclasses.fields(node_cls))}")
    return ConfigError(f"--set {key}: unknown field {key.split('.')[i]!r} in {node_cls.__name__}; {hint}")


def _coerce(value: str, typ: type, where: str):
    if typ is bool:
        low = value.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected a boolean (true/false), got {value!r}")
    try:
        return typ(value)
    except ValueError as e:
        raise ConfigError(f"{where}: expected {typ.__name__}, got {value!r}") from e


def _build(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object of {cls.__name__} fields, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = sorted(f.name for f in dataclasses.fields(cls))
    unknown = sorted(set(data) - set(names))
    if unknown:
        close = {u: difflib.get_close_matches(u, names, n=3) for u in unknown}
        hint = "; ".join(f"{u!r}: did you mean {' or '.join(c)}?" for u, c in close.items() if c)
        raise ConfigError(f"{where}: unknown field(s) {unknown}; {hint or f'known: {names}'}")
    kwargs = {}
    for key, val in data.items():
        typ = hints[key]
        if dataclasses.is_dataclass(typ):
            kwargs[key] = _build(typ, val, f"{where}.{key}")
        elif typ is float and isinstance(val, int) and not isinstance(val, bool):
            kwargs[key] = float(val)
        elif not isinstance(val, typ) or (typ is int and isinstance(val, bool)):
            raise ConfigError(f"{where}.{key}: expected {typ.__name__}, got {type(val).__name__} {val!r}")
        else:
            kwargs[key] = val
    return cls(**kwargs)


def _section(node: dict, part: str, key: str) -> dict:
    """The sub-dict ``node[part]`` an override descends into (created when absent)."""
    sub = node.setdefault(part, {})
    if not isinstance(sub, dict):
        raise ConfigError(f"--set {key}: the config holds {part}={sub!r}, not an object of fields; fix the file")
    return sub


def apply_overrides(data: dict, overrides: list[str], cls=None) -> dict:
    """Apply ``section.key=value`` strings to a nested dict, coercing by the dataclass field types."""
    cls = cls or RunConfig
    out = json.loads(json.dumps(data))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. train.lr=2e-5")
        key, value = item.split("=", 1)
        parts = key.split(".")
        node_cls, node = cls, out
        for i, part in enumerate(parts):
            hints = typing.get_type_hints(node_cls)
            if part not in hints:
                raise _unknown_field(key, i, node_cls, cls)
            typ = hints[part]
            if i == len(parts) - 1:
                if dataclasses.is_dataclass(typ):
                    example = _field_paths(typ, key + ".")[0]
                    raise ConfigError(f"--set {key}: names a section, not a field; set one of its fields, e.g. {example}=...")
                node[part] = _coerce(value, typ, f"--set {key}")
            else:
                if not dataclasses.is_dataclass(typ):
                    raise ConfigError(f"--set {key}: {part!r} is not a section")
                node = _section(node, part, key)
                node_cls = typ
    return out


def _drop_comments(data):
    """A config file may explain itself: keys starting with "//" are comments, at any level (examples/*.json)."""
    if isinstance(data, dict):
        return {k: _drop_comments(v) for k, v in data.items() if not str(k).startswith("//")}
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None, cls=None):
    """Load a (stage) config from JSON (or defaults) and apply ``--set`` overrides."""
    cls = cls or RunConfig
    data: dict = {}
    where = "<defaults>"
    if path:
        where = str(path)
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError as e:
            raise ConfigError(f"config file not found: {path}; give --config an existing run config JSON") from e
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: line {e.lineno}: invalid JSON ({e.msg})") from e
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a JSON object of {cls.__name__} fields, got {type(data).__name__}")
        data = _drop_comments(data)
    data = apply_overrides(data, overrides or [], cls)
    return _build(cls, data, where)
