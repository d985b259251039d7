"""The only module that calls torch.distributed.

Works under torchrun (RANK/WORLD_SIZE/LOCAL_RANK env), the deepspeed launcher (same env, plus a
``--local_rank`` argument that launch scripts accept and ignore), and as a single process (no env: world 1).

Two process groups, because NCCL accepts only CUDA tensors ("No backend type associated with device type cpu"):
- the default group (NCCL on CUDA, gloo on CPU) carries device tensors: DeepSpeed's collectives, and any
  tensor handed to ``all_reduce_sum`` / ``all_reduce_max`` that lives on the accelerator;
- a host group (gloo, created once per process group; the default group itself when that is gloo) carries what
  the harness computes on the host: CPU tensors (the step's normaliser, summed from the host-side batches
  before any forward, and the step's logged loss), pickled objects, barriers.
So every helper here routes a tensor to a backend that accepts its device, whatever the default group is: a
CPU test whose default group routes only ``cuda`` (``backend="cuda:gloo"``) refuses CPU tensors exactly as
NCCL does, and the helpers still work under it (tests/test_dist.py). Why not move host values to the GPU
instead: they are born on the host (batches are collated there), a GPU round trip costs a device sync each,
and pickled objects would need the same detour. Multi-node: gloo opens its own TCP connections; set
GLOO_SOCKET_IFNAME (like NCCL_SOCKET_IFNAME) where the default interface is not the cluster network.
"""

from __future__ import annotations

import datetime
import gc
import os
import signal
import threading
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_info() -> DistInfo:
    """Rank and world size from the launcher's environment (1 process when unset)."""
    return DistInfo(
        rank=int(os.environ.get("RANK", 0)),
        world=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def device_for(info: DistInfo | None = None) -> torch.device:
    info = info or env_info()
    if torch.cuda.is_available():
        torch.cuda.set_device(info.local_rank % torch.cuda.device_count())
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def ensure_single_process_env() -> None:
    """DeepSpeed needs RANK/WORLD_SIZE/... even for one process (else it tries MPI discovery)."""
    os.environ.setdefault("RANK", "0")
    os.environ.setdefault("WORLD_SIZE", "1")
    os.environ.setdefault("LOCAL_RANK", "0")
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(29500 + os.getpid() % 1000))


def exit_with_launcher(poll_s: float = 1.0) -> None:
    """Under a launcher (torchrun, deepspeed: LOCAL_RANK set), end this process when the launcher dies: its
    workers live in their own process sessions, so a kill -9 of the launcher would leave them training, and a
    restart would then have two writers in one run folder. A daemon thread polls the parent pid (a parent
    death signal would fire on the exit of the launcher *thread* that spawned us, not of the launcher)."""
    if not _UNDER_LAUNCHER or _watch.get("on"):
        return
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os.kill(os.getpid(), signal.SIGKILL)  # the launcher is gone: nothing may keep writing

    threading.Thread(target=watch, name="exit-with-launcher", daemon=True).start()
    _watch["on"] = True


_watch: dict = {}
_UNDER_LAUNCHER = "LOCAL_RANK" in os.environ  # read at import: ensure_single_process_env sets it later


def init(timeout_s: float | None = None) -> DistInfo:
    """Initialise the default process group from env when WORLD_SIZE > 1 (idempotent). Its backend is nccl on
    CUDA, gloo on CPU, or $HARNESS_DIST_BACKEND (a torch backend string: tests set ``cuda:gloo``, a group that
    refuses CPU tensors exactly as NCCL does, to run the real entry points under NCCL's restriction on CPU)."""
    info = env_info()
    exit_with_launcher()
    if info.world > 1 and not dist.is_initialized():
        backend = os.environ.get("HARNESS_DIST_BACKEND") or ("nccl" if torch.cuda.is_available() else "gloo")
        if "nccl" in backend:
            device_for(info)
        dist.init_process_group(backend=backend, timeout=_timeout(timeout_s))
    elif timeout_s is not None:
        _timeout(timeout_s)  # a group made elsewhere (tests): the host group still gets the caller's bound
    return info


_bound: dict = {}  # {"s": seconds}: the timeout of the last init, which the host group gets as well


def _timeout(seconds: float | None = None) -> datetime.timedelta:
    """The collective timeout: ``seconds`` when given (and remembered), else the one remembered by ``init``, else
    $HARNESS_DIST_TIMEOUT_S, else 30 minutes. One value bounds both groups: a host-group barrier must not wait
    longer than a device collective would."""
    if seconds is not None:
        _bound["s"] = float(seconds)
    return datetime.timedelta(seconds=_bound.get("s", float(os.environ.get("HARNESS_DIST_TIMEOUT_S", 1800))))


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def world() -> int:
    return dist.get_world_size() if is_initialized() else 1


_host: dict = {}  # the host (gloo) group of the current default group: {"for": default group, "group": ...}


def host_group():
    """The gloo group for host-side values (None for one process). Created on first use, which every rank
    reaches in the same order: each helper below is a collective that all ranks call."""
    if not (is_initialized() and world() > 1):
        return None
    default = dist.group.WORLD
    if _host.get("for") is not default:
        group = default if dist.get_backend() == "gloo" else dist.new_group(backend="gloo", timeout=_timeout())
        _host.update({"for": default, "group": group})
    return _host["group"]


def _group_for(t: torch.Tensor):
    """The group whose backend accepts ``t``'s device: the host group for CPU tensors, the default group else."""
    return host_group() if t.device.type == "cpu" else None


def barrier() -> None:
    if is_initialized() and world() > 1:
        dist.barrier(group=host_group())


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """In-place sum over ranks (no-op for one process), on a backend that accepts ``t``'s device. Returns ``t``."""
    if is_initialized() and world() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM, group=_group_for(t))
    return t


def all_reduce_max(t: torch.Tensor) -> torch.Tensor:
    if is_initialized() and world() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=_group_for(t))
    return t


def all_gather_object(obj) -> list:
    if not (is_initialized() and world() > 1):
        return [obj]
    out = [None] * world()
    dist.all_gather_object(out, obj, group=host_group())
    return out


def from_main(obj):
    """Rank 0's ``obj`` on every rank (a pickled broadcast on the host group; ``obj`` itself for one process). For a
    decision rank 0 makes that decides whether a collective follows (RCP's "improved")."""
    if not (is_initialized() and world() > 1):
        return obj
    box = [obj if rank() == 0 else None]
    dist.broadcast_object_list(box, src=0, group=host_group())
    return box[0]


class RankZeroFailed(RuntimeError):
    """Raised on the other ranks when rank-0-only work failed (the message names rank 0's exception)."""


def on_main(fn, what: str, *, input_types: tuple = ()):
    """Run ``fn()`` on rank 0 only; every rank learns the outcome before going on, so a failure there ends all
    ranks together instead of leaving the others in the next collective until the timeout. Rank 0 re-raises its
    own exception; the others raise ``InputError`` for an input error (rank 0 prints the one line) and
    ``RankZeroFailed`` for anything else (``input_types``: more exception classes that count as input errors),
    naming ``what`` and rank 0's exception. Returns ``fn()``'s value on
    rank 0, None elsewhere. A collective (all ranks call it), like ``runstate.claim_run_folder``."""
    if not (is_initialized() and world() > 1):
        return fn()
    from harness.cli import InputError

    value, err = None, None
    if rank() == 0:
        try:
            value = fn()
        except Exception as e:  # shared with every rank below, then re-raised here unchanged
            err = e
    outcome = all_gather_object(None if err is None else (isinstance(err, (InputError, *input_types)),
                                                                   f"{type(err).__name__}: {err}"))[0]
    if err is not None:
        raise err
    if outcome is not None:
        is_input, msg = outcome
        raise (InputError if is_input else RankZeroFailed)(f"rank 0 failed {what}: {msg}")
    return value


def shard_range(n: int, rank_: int, world_: int) -> range:
    """Contiguous, balanced shard of ``range(n)`` for ``rank_`` (sizes differ by at most one)."""
    base, extra = divmod(n, world_)
    start = rank_ * base + min(rank_, extra)
    return range(start, start + base + (1 if rank_ < extra else 0))


def destroy() -> None:
    """Collect garbage, barrier, then tear the group down.

    Gloo work objects that outlive the group until interpreter finalization abort the process ("terminate
    called without an active exception", seen at exit of 2-rank CPU runs): free cyclic garbage that may hold
    them while the interpreter is alive, and let no rank close its connections while another is still in a
    collective. Callers should drop their engine/model references before calling this."""
    if is_initialized():
        gc.collect()
        if world() > 1:
            dist.barrier(group=host_group())
        _host.clear()
        dist.destroy_process_group()


def die_with_parent() -> None:
    """``preexec_fn`` of a stage's launcher process: SIGTERM when the process that started it dies, so a kill -9 of
    a pipeline (atlantis experiment, tables run) leaves no launcher behind (torchrun passes SIGTERM to its workers;
    they also watch their launcher)."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def local_launcher(nproc: int) -> list[str]:
    """The command line that starts ``nproc`` processes of a Python entry point on this machine (torchrun,
    standalone rendezvous), or one plain ``python`` for ``nproc`` <= 1; the entry point follows
    (``-m harness ...`` or a script)."""
    import sys

    if nproc <= 1:
        return [sys.executable]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
