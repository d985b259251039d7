"""Print the device and the versions a GPU session runs with (scripts/device_run.sh writes it to $OUT/device.txt):

    python benchmarks/device_info.py [--require-cuda]

One line per fact: GPU name, memory, CUDA / driver (nvidia-smi when present), Python, and for each package the
benchmarks use its version and whether it imports here (the error when it does not: the wheels of .whl/ are
installed by device_run.sh, so a failed import shows here, before the steps that need it). ``--require-cuda``
exits 1 when torch sees no CUDA device (nothing on the GPU machine can run then).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import platform
import shutil
import subprocess
import sys

# (distribution, module to import) of what the GPU session needs; the image lacks the last five
PACKAGES = (("torch", "torch"), ("triton", "triton"), ("transformers", "transformers"), ("accelerate", "accelerate"),
            ("deepspeed", "deepspeed"), ("liger-kernel", "liger_kernel.transformers"),
            ("cut-cross-entropy", "cut_cross_entropy"), ("pydantic", "pydantic"), ("hjson", "hjson"))


def package_line(dist: str, module: str) -> str:
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return f"{dist}: NOT INSTALLED"
    try:
        importlib.import_module(module)
    except Exception as e:  # reported, not raised: this step only describes the machine
        return f"{dist} {version}: IMPORT FAILS ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
    return f"{dist} {version}"


def device_lines() -> list[str]:
    import torch

    lines = [f"python {platform.python_version()} ({sys.executable})",
             f"torch {torch.__version__} cuda {torch.version.cuda} available={torch.cuda.is_available()}"]
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        lines.append(f"cuda:{i} {props.name} {props.total_memory / 2**30:.1f} GiB, capability "
                     f"{props.major}.{props.minor}, {props.multi_processor_count} SMs")
    if shutil.which("nvidia-smi"):
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=60)
        lines.append(f"nvidia-smi: {smi.stdout.strip() or smi.stderr.strip()}")
    else:
        lines.append("nvidia-smi: not found")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--require-cuda", action="store_true", help="exit 1 when no CUDA device is visible")
    args = ap.parse_args(argv)
    for line in device_lines() + [package_line(d, m) for d, m in PACKAGES]:
        print(line, flush=True)
    import torch

    if args.require_cuda and not torch.cuda.is_available():
        print("no CUDA device visible to torch: nothing to run on this machine", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
