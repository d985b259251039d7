"""The one command line (``python -m harness <recipe> <command> ...``: ``Command``, ``parse``, ``main``, at the end of
this file) and the entry points' error boundary: a user's input error is ONE line ``error: ...`` on stderr and exit
status 2.

    if __name__ == "__main__":
        raise SystemExit(run_main(main))      # main(argv) -> int

What counts as an input error, and why not every ``ValueError``: torch, transformers and numpy raise
``ValueError`` (and ``OSError``) for bugs too, a shape mismatch deep in a forward pass, and a one-line message
without its traceback would hide where such a bug is. So two things, and nothing else, are input errors:

* ``InputError`` and its subclasses, wherever they are raised: the harness's own checks of what the user gave
  (``ConfigError`` for the run config and ``--set``, ``ScorerFileError`` for scorer files, a missing model
  folder, a refused manifest or DeepSpeed config, ...). Their messages name what is wrong and what to do.
* ``ValueError`` and missing / unreadable path errors raised inside ``with input_errors():``, the block where an
  entry point reads its inputs (data files, run folders) before the heavy work starts: the readers there raise
  plain ``ValueError`` / ``FileNotFoundError`` with ``file:line`` messages.

``HARNESS_TRACEBACK=1`` re-raises input errors with their traceback (to debug a reader). In a multi-rank run
every rank exits with status 2 but only rank 0 prints the line (``harness.log``'s rank), so it appears once.
This module imports nothing heavy: ``harness.config`` derives ``ConfigError`` from ``InputError``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

EXIT_INPUT = 2  # exit status of an input error (argparse's usage errors use 2 as well)
TRACEBACK_ENV = "HARNESS_TRACEBACK"  # set to 1: input errors keep their traceback

# what a reader raises for a bad input inside ``input_errors()``
_READER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)


class InputError(ValueError):
    """Something the user gave (a config, a flag, a file, a folder) is wrong; the message says what to do.
    A ``ValueError``, so ``except ValueError`` around the harness's checks keeps working."""


@contextmanager
def input_errors() -> Iterator[None]:
    """Turn a reader's ``ValueError`` / missing-path error raised inside the block into an ``InputError`` (same
    message, the original kept as ``__cause__``). Wrap only the reading of inputs, never model code."""
    try:
        yield
    except InputError:
        raise
    except _READER_ERRORS as e:
        raise InputError(str(e)) from e


def one_line(e: BaseException) -> str:
    """``error: <message>`` on one line (the lines of a multi-line message are joined with spaces)."""
    msg = " ".join(part.strip() for part in str(e).splitlines() if part.strip())
    return f"error: {msg or type(e).__name__}"


def run_main(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """``main(argv)``; an ``InputError`` becomes one line on stderr (rank 0 only) and ``EXIT_INPUT``.
    Every other exception propagates with its traceback."""
    try:
        return main(argv)
    except InputError as e:
        if os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
            raise
        from harness import log

        if log._rank() == 0:
            print(one_line(e), file=sys.stderr, flush=True)
        return EXIT_INPUT


# ---- the one command line: python -m harness <recipe> <command> [flags] -------------------------------------------
# The recipes and their commands are listed in harness/recipes/__init__.py (RECIPES) and declared as ``Command``s in
# harness/recipes/<recipe>/commands.py; the flags every command shares are added here from the declaration, so each
# is spelled one way everywhere. Parsing imports nothing heavy (tests/test_boundaries.py): the command bodies import
# torch, the data and the models when they run.

LOCAL_RANK_FLAGS = ("--local_rank", "--local-rank")  # what the DeepSpeed launcher inserts after the script name


@dataclass(frozen=True)
class Command:
    """One command of a recipe: ``run(args, **hooks) -> exit status`` and the flags it takes. The shared flags are
    declared, not added by hand: ``config`` (the config class's name) adds ``--config C`` and ``--set KEY=VALUE``;
    ``run_dir``: "set" adds ``--run-dir DIR`` equal to ``--set run_dir=DIR``, "one" a required ``--run-dir DIR``,
    "many" a repeatable one (``args.run_dirs``); ``ds`` adds ``--ds D``; ``restart`` (help texts of --resume and
    --overwrite) adds the pair, mutually exclusive; ``dist`` adds ``--dist-timeout S``. ``add_args`` adds the
    command's own flags."""

    name: str
    help: str  # one line, shown by ``python -m harness --help``
    run: Callable[..., int]
    add_args: Callable[[argparse.ArgumentParser], None] | None = None
    config: str = ""
    run_dir: str = ""
    ds: bool = False
    restart: tuple[str, str] = ()
    dist: bool = False
    hooks: tuple[str, ...] = ()  # test hooks ``run`` accepts (e.g. on_step), passed by ``main(argv, **hooks)``


RESUME_EXPLICIT = ("continue from the run folder's latest checkpoint (same settings, checked)",
                   "start over in a run folder that already holds a run (deletes its outputs)")


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are input errors: one line ``error: ...``, exit status 2 (``run_main``)."""

    def error(self, message: str):
        raise InputError(f"{self.prog}: {message}; see {self.prog} --help")


def strip_local_rank(argv: list[str]) -> list[str]:
    """``argv`` without ``--local_rank=N`` / ``--local_rank N`` (either spelling, wherever the launcher put it);
    LOCAL_RANK is set from it unless the launcher already set it (torchrun sets only the variable)."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        flag, eq, value = a.partition("=")
        if flag in LOCAL_RANK_FLAGS:
            if not eq:
                if i + 1 >= len(argv):
                    raise InputError(f"{flag} needs a value (the process's local rank)")
                value, i = argv[i + 1], i + 1
            os.environ.setdefault("LOCAL_RANK", value)
        else:
            out.append(a)
        i += 1
    return out


def _listing() -> str:
    from harness.recipes import RECIPES, commands

    lines = ["recipes and their commands (python -m harness RECIPE --help: a recipe's commands and flags):"]
    for name, (about, _) in RECIPES.items():
        lines.append(f"  {name:<10}{about}")
        lines += [f"      {c.name:<15}{c.help}" for c in commands(name)]
    return "\n".join(lines)


def _add_command(sub, cmd: Command) -> None:
    p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
    if cmd.config:
        p.add_argument("--config", default=None, metavar="C", help=f"{cmd.config} JSON (defaults if omitted)")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config field (repeat), e.g. train.lr=2e-5")
    if cmd.run_dir == "set":
        p.add_argument("--run-dir", default=None, metavar="DIR", help="the run folder (= --set run_dir=DIR)")
    elif cmd.run_dir == "one":
        p.add_argument("--run-dir", required=True, metavar="DIR", help="the run folder")
    elif cmd.run_dir == "many":
        p.add_argument("--run-dir", action="append", required=True, dest="run_dirs", metavar="DIR",
                       help="a run folder (repeat for several)")
    if cmd.ds:
        p.add_argument("--ds", default=None, metavar="D", help="DeepSpeed JSON config (omit: one process, plain torch)")
    if cmd.restart:
        g = p.add_mutually_exclusive_group()
        g.add_argument("--resume", action="store_true", help=cmd.restart[0])
        g.add_argument("--overwrite", action="store_true", help=cmd.restart[1])
    if cmd.dist:
        p.add_argument("--dist-timeout", type=float, default=None, metavar="S", help="process-group timeout, seconds")
    if cmd.add_args is not None:
        cmd.add_args(p)
    p.set_defaults(command=cmd)


def parser(recipe: str | None = None) -> argparse.ArgumentParser:
    """The whole grammar (``recipe``: only that recipe's, for its help and tests)."""
    from harness.recipes import RECIPES, commands

    top = _Parser(prog="python -m harness", description="One command line for every recipe of the harness.",
                  epilog=_listing(), formatter_class=argparse.RawDescriptionHelpFormatter)
    recipes = top.add_subparsers(dest="recipe", required=True, metavar="RECIPE")
    for name, (about, _) in RECIPES.items():
        if recipe not in (None, name):
            continue
        r = recipes.add_parser(name, help=about, description=about)
        subs = r.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
        for cmd in commands(name):
            _add_command(subs, cmd)
    return top


def parse(argv: list[str]) -> argparse.Namespace:
    """``argv`` (after the script name) -> the command's arguments, the shared flags resolved: ``--local_rank``
    stripped, ``--run-dir`` appended to ``--set`` as ``run_dir=DIR``, ``--dist-timeout`` exported to
    HARNESS_DIST_TIMEOUT_S (read by ``harness.dist.init``)."""
    argv = strip_local_rank(list(argv))
    args = parser().parse_args(argv)
    cmd: Command = args.command
    if cmd.config and cmd.run_dir == "set" and args.run_dir:
        args.set = [*args.set, f"run_dir={args.run_dir}"]
    if cmd.dist and args.dist_timeout is not None:
        os.environ["HARNESS_DIST_TIMEOUT_S"] = str(args.dist_timeout)
    return args


def main(argv: list[str] | None = None, **hooks) -> int:
    """``python -m harness ...``: parse, then run the command (``hooks``: test hooks, e.g. ``on_step``)."""
    args = parse(sys.argv[1:] if argv is None else argv)
    cmd: Command = args.command
    unknown = sorted(set(hooks) - set(cmd.hooks))
    if unknown:
        raise TypeError(f"{args.recipe} {cmd.name} takes no hook {unknown}")
    return cmd.run(args, **hooks)
