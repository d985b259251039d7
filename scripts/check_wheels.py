"""Check that a folder of wheels installs with ``--no-deps`` onto the GPU image without a missing dependency.

Every ``Requires-Dist`` of every wheel (markers evaluated for CPython 3.12 on x86_64 Linux, no extras) must be
met by another wheel in the folder or by a package the image has. Run by scripts/device_prep.sh:
``python scripts/check_wheels.py .whl``. Needs only ``packaging``.
"""

from __future__ import annotations

import sys
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

# The device tool's GPU image: name -> version where it is known, None where only the name is.
IMAGE = {
    "torch": "2.11.0", "transformers": "5.17.0", "triton": "3.6.0", "tokenizers": "0.23.2",
    "accelerate": None, "safetensors": None, "scikit-learn": None, "rich": None, "pytest": None, "ninja": None,
    "psutil": None, "einops": None, "msgpack": None, "py-cpuinfo": None, "peft": None, "tensorboard": None,
    "sacrebleu": None,
    # transformers 5.17's own needs, present since it imports there
    "numpy": None, "packaging": None, "tqdm": None, "pyyaml": None, "huggingface-hub": None, "typer": None,
}
TARGET = {"python_version": "3.12", "python_full_version": "3.12.0", "implementation_name": "cpython",
          "platform_python_implementation": "CPython", "sys_platform": "linux", "platform_system": "Linux",
          "platform_machine": "x86_64", "os_name": "posix", "extra": ""}


def read_metadata(wheel: Path) -> tuple[str, str, list[str]]:
    """(canonical name, version, Requires-Dist lines) of one wheel."""
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1]
        if len(names) != 1:
            raise ValueError(f"{wheel}: expected one top-level *.dist-info/METADATA, found {len(names)}")
        meta = Parser().parsestr(zf.read(names[0]).decode("utf-8"))
    return canonicalize_name(meta["Name"]), meta["Version"], meta.get_all("Requires-Dist") or []


def problems(wheels: list[Path], image: dict[str, str | None] = IMAGE) -> list[str]:
    """One line per unmet requirement (empty when the set is complete)."""
    metas = [read_metadata(w) for w in wheels]
    have = {name: version for name, version, _ in metas}
    out = []
    for name, version, requires in metas:
        for line in requires:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate(TARGET):
                continue
            dep = canonicalize_name(req.name)
            if dep not in have and dep not in image:
                out.append(f"{name} {version} needs {line}: neither carried nor in the GPU image")
                continue
            found = have.get(dep) or image.get(dep)
            if found is not None and not req.specifier.contains(Version(found), prereleases=True):
                where = "carried" if dep in have else "in the GPU image"
                out.append(f"{name} {version} needs {line}: {dep} {found} is {where}")
    return out


def main(folder: str) -> int:
    wheels = sorted(Path(folder).glob("*.whl"))
    if not wheels:
        print(f"check_wheels: no *.whl in {folder}", file=sys.stderr)
        return 2
    found = problems(wheels)
    for line in found:
        print(f"check_wheels: {line}", file=sys.stderr)
    print(f"check_wheels: {len(wheels)} wheels, {len(found)} unmet requirements")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
