"""The only module that calls torch.distributed.

Works under torchrun (RANK/WORLD_SIZE/LOCAL_RANK env), the deepspeed launcher (same env, plus a
``--local_rank`` argument that launch scripts accept and ignore), and as a single process (no env: world 1).
"""

from __future__ import annotations

import datetime
import gc
import os
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


def init(timeout_s: float | None = None) -> DistInfo:
    """Initialise the default process group from env when WORLD_SIZE > 1 (idempotent)."""
    info = env_info()
    if info.world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            device_for(info)
        kwargs = {}
        if timeout_s is None:
            timeout_s = float(os.environ.get("HARNESS_DIST_TIMEOUT_S", 1800))
        kwargs["timeout"] = datetime.timedelta(seconds=timeout_s)
        dist.init_process_group(backend=backend, **kwargs)
    return info


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def world() -> int:
    return dist.get_world_size() if is_initialized() else 1


def barrier() -> None:
    if is_initialized():
        dist.barrier()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """In-place sum over ranks (no-op for one process). Returns ``t``."""
    if is_initialized() and world() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_reduce_max(t: torch.Tensor) -> torch.Tensor:
    if is_initialized() and world() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t


def all_gather_object(obj) -> list:
    if not (is_initialized() and world() > 1):
        return [obj]
    out = [None] * world()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj, src: int = 0):
    if not (is_initialized() and world() > 1):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


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
            dist.barrier()
        dist.destroy_process_group()
