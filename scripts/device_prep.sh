#!/usr/bin/env bash
# Here (CPU machine, package registries reachable): gather into .whl/ the Python packages the GPU machine of the
# `device` tool lacks, for scripts/device_run.sh to install there (it has torch, triton, accelerate, tokenizers,
# safetensors, scikit-learn, rich, pytest, ninja, psutil, einops, msgpack, py-cpuinfo; nothing can be fetched
# there; Python 3.12). .whl/ is in .gitignore and travels with `carry: [".whl"]`;
# the device tool carries at most 64 MiB in all, so flash-attn and bitsandbytes (GPU builds of 100+ MiB) stay
# behind: attention falls back to SDPA and quantized scoring is not run there.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .whl && mkdir .whl
pin() { grep -i "^$1==" constraints.txt | head -1; }
plat=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
# transformers as pinned here (the image has an older one), DeepSpeed's missing needs, the kernel baselines
python3 -m pip download -q --no-deps "${plat[@]}" -d .whl "$(pin transformers)" \
    hjson pydantic pydantic-core annotated-types typing-inspection \
    liger-kernel cut-cross-entropy
# DeepSpeed ships only a source archive: build its pure-Python wheel here (its ops JIT-build on the GPU machine)
DS_BUILD_OPS=0 python3 -m pip wheel -q --no-deps --no-build-isolation -w .whl "$(pin deepspeed)"
du -sh .whl && ls .whl
