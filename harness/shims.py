"""The launch/*.py scripts users type (and launchers start) mapped onto the one command line
(``python -m harness <recipe> <command>``, harness/cli.py), so that every old command keeps working verbatim:

    launch/train.py [flags]                   -> atlantis train [flags]
    launch/train.py export --checkpoint C     -> atlantis export --checkpoints C
    launch/score.py [flags]                   -> atlantis score [flags]
    launch/eval.py run | score                -> atlantis eval | semeval-score
    launch/eval.py compare | curves DIR...    -> atlantis compare | curves --run-dir DIR ...
    launch/eval.py weights                    -> atlantis weights
    launch/experiment.py --root R --fresh     -> atlantis experiment --run-dir R --overwrite
    launch/qa4re.py eval | label              -> qa4re eval | label
    launch/gen.py generate | pairs | metrics  -> gen generate | pairs | metrics
    launch/gen.py dpo                         -> dpo train
    launch/docre.py eval | train-llm          -> docre docred-score | train
    launch/docre.py prompts | predict | pipeline | rcp-train | rcp-propose   -> docre (same names)

The other flags are spelled the same in both. ``--local_rank`` (the DeepSpeed launcher's) is stripped first, wherever
it stands (harness.cli.strip_local_rank).
"""

from __future__ import annotations

from harness.cli import main, strip_local_rank

# script -> (recipe, {old subcommand: new command}); no table: the script is one command
_SUBCOMMANDS: dict[str, tuple[str, dict[str, str]]] = {
    "eval.py": ("atlantis", {"run": "eval", "score": "semeval-score", "compare": "compare", "curves": "curves",
                             "weights": "weights"}),
    "qa4re.py": ("qa4re", {"eval": "eval", "label": "label"}),
    "docre.py": ("docre", {"eval": "docred-score", "train-llm": "train", "prompts": "prompts", "predict": "predict",
                           "pipeline": "pipeline", "rcp-train": "rcp-train", "rcp-propose": "rcp-propose"}),
}
_RENAMED = {"--root": "--run-dir", "--fresh": "--overwrite", "--checkpoint": "--checkpoints"}  # old -> new flag
_VALUED = {"--out", "--split"}  # the flags of eval.py curves that take a value (the rest are run folders)


def _renamed(argv: list[str]) -> list[str]:
    out = []
    for a in argv:
        flag, eq, value = a.partition("=")
        out.append(_RENAMED.get(flag, flag) + eq + value if flag in _RENAMED else a)
    return out


def _run_dirs(argv: list[str]) -> list[str]:
    """eval.py compare / curves: the positional run folders become ``--run-dir DIR``."""
    out, take_value = [], False
    for a in argv:
        if take_value or a.startswith("-"):
            out.append(a)
            take_value = a in _VALUED
        else:
            out += ["--run-dir", a]
    return out


def translate(script: str, argv: list[str]) -> list[str]:
    """``launch/<script>``'s arguments -> the same command in the one grammar (``python -m harness`` arguments)."""
    argv = strip_local_rank(list(argv))
    head, rest = (argv[0], argv[1:]) if argv else ("", [])
    if script == "train.py":
        return ["atlantis", "export", *_renamed(rest)] if head == "export" else ["atlantis", "train", *argv]
    if script == "score.py":
        return ["atlantis", "score", *argv]
    if script == "experiment.py":
        return ["atlantis", "experiment", *_renamed(argv)]
    if script == "gen.py":
        return ["dpo", "train", *rest] if head == "dpo" else ["gen", *argv]
    recipe, names = _SUBCOMMANDS[script]
    if head not in names:  # --help, nothing, or an unknown subcommand: the recipe's parser answers
        return [recipe, *argv]
    if script == "eval.py" and head in ("compare", "curves"):
        rest = _run_dirs(rest)
    return [recipe, names[head], *rest]


def launch(script: str, argv: list[str] | None = None, **hooks) -> int:
    """Run ``launch/<script>`` with ``argv`` (default: sys.argv[1:]) through the one command line."""
    import sys

    return main(translate(script, sys.argv[1:] if argv is None else argv), **hooks)
