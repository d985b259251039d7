"""The entry points' error boundary: a user's input error is ONE line ``error: ...`` on stderr and exit status 2.

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

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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
