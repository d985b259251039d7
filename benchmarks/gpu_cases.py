"""The GPU session's benchmark cases, in ONE place.

scripts/device_run.sh passes ``--cases-from gpu:<list>`` to the benchmark scripts, and
tests/scripts/test_device_run.py resolves the DeepSpeed config of every case listed here, so the script, the
dry-run and the test cannot drift apart. Imports nothing heavy (no torch): a shell or a test can read it cheaply.

Target (the `device` tool): one NVIDIA H200 (~140 GiB), 16 cores, 128 GiB host memory, 15 minutes of device time
in all. Sizing notes:
  * ZeRO-3 on one GPU partitions nothing away: the whole model, its grads, the fp32 master copy and the Adam
    states live on the GPU. Qwen2-7B (7.62B parameters): 15.2 + 15.2 + 30.5 + 61 GB ~ 122 GB (~114 GiB) before
    activations, so the 7B cases run with activation checkpointing and small micro-batches. zero3_offload.json
    would need ~156 GB of pinned host memory (more than the 128 GiB host): not used here.
  * micro-batches 1 and 4 (the DeepSpeed configs carry no batch fields: the harness fills them from the
    train config, harness.train.dsconfig.resolve_ds_config).
"""

from __future__ import annotations

from typing import NamedTuple

TARGET_GPU = "NVIDIA H200"  # torch.cuda.get_device_name() there; looked up in harness.train.metrics.PEAK_FLOPS
GPU_MEM_GB = 140  # usable GPU memory (GiB) of the target
HOST_MEM_GB = 128  # host memory (GiB) of the target
QWEN2_VOCAB_7B = 152_064  # Qwen2-7B's LM-head rows (the 0.5B/1.5B heads have 151,936)


class TrainCase(NamedTuple):
    """One bench_train_throughput case: both providers (label_rows, baseline) run it."""

    model: str  # harness.models.load preset
    micro_batch: int  # sequences per micro-batch (per GPU)
    seq: int  # tokens per sequence (random ids, no padding)
    labels: int  # label tokens at the end of each sequence
    ds: str = ""  # DeepSpeed JSON relative to the repository root; "" = plain torch engine
    activation_checkpointing: bool = False  # train.activation_checkpointing
    pack_len: int = 0  # > 0: packed rows (the harness default): each row of ``seq`` tokens holds examples of about
    #                    pack_len tokens (seeded lengths in [pack_len/2, 3 pack_len/2]), ``labels`` at each one's end
    attn: str = ""  # model.attn_impl for the case ("" = auto: flash_attention_2 if installed, else sdpa)
    baseline: bool = True  # also run the full-logits baseline provider (padded rows only; never at 7B)

    def label(self) -> str:
        ac = " +AC" if self.activation_checkpointing else ""
        packed = f" packed~{self.pack_len}" if self.pack_len else ""
        attn = f" {self.attn}" if self.attn else ""
        return f"{self.model} {self.micro_batch}x{self.seq}{packed}{attn} {self.ds or 'plain'}{ac}"

    def providers(self) -> tuple[str, ...]:
        return ("label_rows", "baseline") if self.baseline else ("label_rows",)


class KernelCases(NamedTuple):
    """One bench_weighted_ce list: every provider on every shape."""

    shapes: tuple[tuple[int, int, int], ...]  # (N rows, H hidden, V vocabulary)
    providers: tuple[str, ...]


ZERO3 = "ds_configs/zero3.json"

# Ordered by value: when a step runs out of time, the rows of the earlier cases are already written.
TRAIN: dict[str, tuple[TrainCase, ...]] = {
    # Qwen2-1.5B shape (~1.5B parameters, ~25 GB of model + optimizer states). Packed rows (the harness default:
    # train.packing, 4096 tokens per micro-batch) under the 4-D block mask (sdpa: the default without flash-attn)
    # and under sdpa_segments (per-example SDPA), then padded RE-length and instruction-length rows with the
    # full-logits baseline beside them.
    "train15": (TrainCase("qwen2-1.5b-shape", 1, 4096, 5, ZERO3, pack_len=100, attn="sdpa", baseline=False),
                TrainCase("qwen2-1.5b-shape", 1, 4096, 5, ZERO3, pack_len=100, attn="sdpa_segments",
                          baseline=False),
                TrainCase("qwen2-1.5b-shape", 4, 100, 5, ZERO3),  # relation-extraction length
                TrainCase("qwen2-1.5b-shape", 1, 2048, 5, ZERO3)),  # instruction length
    # Qwen2-7B shape, activation checkpointing on (see the module docstring), only when time is left; no full-logits
    # baseline at 7B ([1, 2048, 152,064] logits + an fp32 upcast on top of ~114 GiB of states)
    "train7": (TrainCase("qwen2-7b-shape", 1, 4096, 5, ZERO3, True, pack_len=100, baseline=False),  # the default
               TrainCase("qwen2-7b-shape", 1, 2048, 5, ZERO3, True, baseline=False)),
}

KERNEL: dict[str, KernelCases] = {
    # N = 16,384 label rows, H=3584 (Qwen2-7B), V=152,064; naive torch is the baseline, liger / cce are unweighted
    "kernel": KernelCases(shapes=((16384, 3584, QWEN2_VOCAB_7B),),
                          providers=("naive", "chunked", "triton", "liger", "cce")),
}


def _lookup(table: dict, spec: str, flag: str):
    kind, _, name = spec.partition(":")
    if kind != "gpu" or name not in table:
        raise ValueError(f"{flag} {spec!r}: expected gpu:NAME with NAME one of {sorted(table)} "
                         "(benchmarks/gpu_cases.py)")
    return table[name]


def train_cases(spec: str) -> tuple[TrainCase, ...]:
    """``gpu:train15`` -> the cases of TRAIN['train15']."""
    return _lookup(TRAIN, spec, "--cases-from")


def kernel_cases(spec: str) -> KernelCases:
    """``gpu:kernel`` -> KERNEL['kernel']."""
    return _lookup(KERNEL, spec, "--cases-from")


def parse_train_cases(text: str) -> list[TrainCase]:
    """``MODEL,MICRO_BATCH,SEQ,LABELS[,DS_CONFIG[,ac]];...`` (``ac`` turns activation checkpointing on)."""
    cases = []
    for part in text.split(";"):
        f = [x.strip() for x in part.split(",")]
        if len(f) not in (4, 5, 6) or (len(f) == 6 and f[5] not in ("ac", "")):
            raise ValueError(f"--cases entry {part!r}: expected MODEL,MICRO_BATCH,SEQ,LABELS[,DS_CONFIG[,ac]]")
        cases.append(TrainCase(f[0], int(f[1]), int(f[2]), int(f[3]), f[4] if len(f) > 4 else "",
                               len(f) == 6 and f[5] == "ac"))
    return cases
