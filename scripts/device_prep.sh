#!/usr/bin/env bash
# Here (CPU machine, package registries reachable): gather into .whl/ the Python packages the GPU machine of the
# `device` tool lacks, for scripts/device_run.sh to install there with `pip install --no-index --no-deps`.
# The GPU image (Python 3.12) has torch 2.11, transformers 5.17, triton 3.6, tokenizers 0.23.2, accelerate,
# safetensors, scikit-learn, rich, pytest, ninja, psutil, einops, msgpack, py-cpuinfo (and transformers' own
# needs: numpy, packaging, tqdm, pyyaml, huggingface-hub); nothing can be fetched there.
# transformers is NOT carried: the image's 5.17 runs the harness (scripts/check_gpu_image_compat.sh checks that).
# flash-attn and bitsandbytes (GPU builds of 100+ MiB) stay behind: attention falls back to SDPA and quantized
# scoring is not run there. .whl/ is in .gitignore and travels with `carry: [".whl"]` (64 MiB in all).
# Needs only python3 and the package index: every tool runs in a fresh venv, with pip's cache off.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
max_mib=25                      # .whl/ budget, MiB: leaves the rest of the 64 MiB for the working tree

# Carried as cp312 wheels. Each line's own needs are either on this list or in the image (see above).
carry=(
  hjson==3.1.0                  # DeepSpeed
  pydantic==2.14.4              # DeepSpeed's config models; needs exactly pydantic-core 2.50.5
  pydantic-core==2.50.5         # cp312 manylinux binary wheel
  annotated-types==0.8.0        # pydantic
  typing-inspection==0.4.5      # pydantic
  typing-extensions==4.16.0     # pydantic and pydantic-core need >= 4.16.0
  regex==2026.11.19             # transformers (>= 2025.10.22); cp312 binary wheel
  liger-kernel==0.8.5           # kernel baseline (torch, triton)
  cut-cross-entropy==25.1.1     # kernel baseline (torch, triton)
)
deepspeed=deepspeed==0.19.8     # source archive only: built below as a pure-Python wheel
build_tools=(setuptools==84.2.1 wheel==0.48.0 packaging==26.4)   # what the DeepSpeed build imports

tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
pip=("$tmp/venv/bin/python" -m pip)
"${pip[@]}" install -q "${build_tools[@]}"

rm -rf .whl && mkdir .whl
plat=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
"${pip[@]}" download -q --no-deps "${plat[@]}" -d .whl "${carry[@]}"
# DeepSpeed: no build isolation, so the build uses the pinned setuptools/wheel installed above; no torch in this
# venv, so DS_BUILD_OPS=0 builds no op (they JIT-build on the GPU machine on first use).
DS_BUILD_OPS=0 "${pip[@]}" wheel -q --no-deps --no-build-isolation --use-pep517 --no-binary deepspeed \
    -w .whl "$deepspeed"
# every carried wheel's own needs are carried or in the image (scripts/check_wheels.py lists the image)
"$tmp/venv/bin/python" scripts/check_wheels.py .whl

ls -l .whl
kib=$(du -sk .whl | cut -f1)
echo "device_prep: $(ls .whl | wc -l) wheels, $((kib / 1024)) MiB in .whl/"
if [ "$kib" -gt $((max_mib * 1024)) ]; then
  echo "device_prep: .whl/ is $((kib / 1024)) MiB, over the ${max_mib} MiB budget: drop a wheel" >&2
  exit 1
fi
