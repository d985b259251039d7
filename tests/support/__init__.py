"""What several test modules need, once: a free TCP port, the torchrun command line, running an entry point (in a
subprocess or in-process) and loading a launch script by file path.

    from support import ROOT, cli, free_port, load_launch, torchrun

``tests/`` is on ``sys.path`` (pytest's default import mode puts the root conftest.py's folder there), so every test
module imports this package as ``support``; a worker script run under torchrun inserts ``tests/`` itself.
"""

from __future__ import annotations

import importlib.util
import io
import os
import socket
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]  # the repository root
LAUNCH = ROOT / "launch"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (torchrun's master / rendezvous port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*script_and_args: str | Path, nproc: int = 2, nnodes: int = 1, node_rank: int = 0,
             port: int | None = None, rdzv_id: str = "harness-test") -> list[str]:
    """``python -m torch.distributed.run`` + ``script_and_args``: ``nproc`` processes on one node with a free
    master port, or, with ``nnodes`` > 1, node ``node_rank`` of a c10d rendezvous on 127.0.0.1:``port`` (give every
    node the same port). A script starting with ``-m`` runs a module (``-m harness ...``)."""
    cmd = [sys.executable, "-m", "torch.distributed.run"]
    if nnodes > 1:
        if port is None:
            raise ValueError("torchrun(nnodes > 1) needs the shared rendezvous port of every node")
        cmd += ["--nnodes", str(nnodes), "--node_rank", str(node_rank), "--nproc_per_node", str(nproc),
                "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{port}", "--rdzv_id", rdzv_id]
    else:
        cmd += ["--nproc_per_node", str(nproc), "--master_port", str(port or free_port())]
    return cmd + [str(a) for a in script_and_args]


@dataclass(frozen=True)
class Result:
    """What an entry point did: exit status, stdout, stderr."""

    rc: int
    stdout: str
    stderr: str

    def error_lines(self) -> list[str]:
        """The ``error: ...`` lines of stderr (an input error is exactly one)."""
        return [ln for ln in self.stderr.splitlines() if ln.startswith("error:")]


def cli(*args: str | Path, in_process: bool = False, env: dict | None = None, cwd: Path = ROOT,
        timeout: float = 300) -> Result:
    """Run an entry point: ``args`` is what follows ``python`` (``"launch/eval.py", "run", ...`` or ``"-m",
    "harness", ...``). In a subprocess by default; ``in_process=True`` calls ``harness.cli.run_main`` on
    ``harness.cli.main`` (``-m harness``) or the launch script's ``main`` here, capturing its output."""
    args = [str(a) for a in args]
    if not in_process:
        out = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                             timeout=timeout)
        return Result(out.returncode, out.stdout, out.stderr)
    from harness.cli import run_main

    if args[:2] == ["-m", "harness"]:
        from harness.cli import main
        argv = args[2:]
    else:
        main, argv = load_launch(Path(args[0]).stem).main, args[1:]
    so, se = io.StringIO(), io.StringIO()
    with redirect_stdout(so), redirect_stderr(se):
        try:
            rc = run_main(main, argv)
        except SystemExit as e:  # argparse's usage errors and --help
            rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return Result(rc, so.getvalue(), se.getvalue())


def load_script(path: str | Path, name: str = "") -> ModuleType:
    """A script outside any package, loaded by file path as a module named ``name`` (not run as ``__main__``)."""
    path = Path(path)
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_launch(name: str) -> ModuleType:
    """``launch/<name>.py`` as a module, e.g. ``load_launch("gen").main(argv)``."""
    return load_script(LAUNCH / f"{name.removesuffix('.py')}.py", f"launch_{name.removesuffix('.py')}")


def pythonpath_env(**extra: str) -> dict:
    """``os.environ`` with the repository root first on PYTHONPATH (a worker started elsewhere imports this
    checkout's harness) and ``extra`` set."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env.update(extra)
    return env
