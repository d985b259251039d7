"""scripts/device_prep.sh (wheels for the GPU machine) and its dependency check, without downloading anything."""

import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from support import load_script

ROOT = Path(__file__).resolve().parents[2]
PREP = ROOT / "scripts" / "device_prep.sh"
PINS = {"hjson": "3.1.0", "pydantic": "2.14.4", "pydantic-core": "2.50.5", "annotated-types": "0.8.0",
        "typing-inspection": "0.4.5", "typing-extensions": "4.16.0", "regex": "2026.11.19",
        "liger-kernel": "0.8.5", "cut-cross-entropy": "25.1.1"}


def _load_check_wheels():
    return load_script(ROOT / "scripts" / "check_wheels.py")


def _carry_list(text: str) -> list[str]:
    block = re.search(r"^carry=\((.*?)^\)", text, re.S | re.M)
    assert block, "device_prep.sh has no carry=( ... ) list"
    block = block.group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def _line_of(lines: list[str], rx: str) -> int:
    hits = [i for i, line in enumerate(lines) if re.search(rx, line)]
    assert hits, f"device_prep.sh has no line matching {rx}"
    return hits[0]


@pytest.mark.parametrize("script", ["device_prep.sh", "check_gpu_image_compat.sh"])
def test_scripts_parse(script):
    subprocess.run(["bash", "-n", str(ROOT / "scripts" / script)], check=True)


def test_prep_pins_every_carried_wheel_and_leaves_transformers_to_the_image():
    carried = dict(item.split("==") for item in _carry_list(PREP.read_text()))
    assert carried == PINS
    assert "transformers" not in carried  # the image's 5.17 runs (scripts/check_gpu_image_compat.sh)


def test_prep_deepspeed_pin_matches_constraints():
    want = re.search(r"^deepspeed==(\S+)", (ROOT / "constraints.txt").read_text(), re.M).group(1)
    assert re.search(r"^deepspeed=deepspeed==(\S+)", PREP.read_text(), re.M).group(1) == want


def test_prep_builds_without_isolation_only_in_its_own_venv_with_pinned_build_tools():
    """The build runs with the pip of a venv the script creates, after installing pinned setuptools and wheel
    there, and pip's cache is off: nothing depends on what this machine happens to have."""
    lines = PREP.read_text().splitlines()
    idx = {key: _line_of(lines, rx) for key, rx in {
        "nocache": r"^export PIP_NO_CACHE_DIR=1\b", "venv": r'^python3 -m venv "\$tmp/venv"$',
        "pip": r'^pip=\("\$tmp/venv/bin/python" -m pip\)$', "tools": r'^"\$\{pip\[@\]\}" install .*"\$\{build_tools\[@\]\}"',
        "build": r"--no-build-isolation"}.items()}
    assert idx["nocache"] < idx["venv"] < idx["pip"] < idx["tools"] < idx["build"]
    assert lines[idx["build"]].startswith('DS_BUILD_OPS=0 "${pip[@]}" wheel ')
    assert sum("--no-build-isolation" in line for line in lines) == 1
    tools = re.search(r"^build_tools=\((.*?)\)", "\n".join(lines), re.M).group(1).split()
    assert {t.split("==")[0] for t in tools if re.fullmatch(r"[\w-]+==[\w.]+", t)} >= {"setuptools", "wheel"}


def _wheel(folder: Path, name: str, version: str, requires: list[str]) -> Path:
    path = folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name.replace('-', '_')}-{version}.dist-info/METADATA", meta)
    return path


def test_check_wheels_accepts_a_complete_set(tmp_path):
    cw = _load_check_wheels()
    wheels = [_wheel(tmp_path, "pydantic", "2.14.4", ["pydantic-core==2.50.5", "typing-extensions>=4.16"]),
              _wheel(tmp_path, "pydantic-core", "2.50.5", ["typing-extensions>=4.16.0"]),
              _wheel(tmp_path, "typing-extensions", "4.16.0", []),
              _wheel(tmp_path, "liger-kernel", "0.8.5", ["torch>=2.1.2", "triton>=2.3.1",
                                                         "pytest; extra == 'dev'", "foo; python_version < '3.12'"])]
    assert cw.problems(wheels) == []


def test_check_wheels_names_a_missing_or_conflicting_dependency(tmp_path):
    cw = _load_check_wheels()
    wheels = [_wheel(tmp_path, "pydantic", "2.14.4", ["pydantic-core==2.50.5", "annotated-types>=0.6.0"]),
              _wheel(tmp_path, "pydantic-core", "2.50.4", []),
              _wheel(tmp_path, "needs-new-torch", "1.0", ["torch>=2.12"])]
    found = cw.problems(wheels)
    assert len(found) == 3
    assert any("annotated-types>=0.6.0: neither carried nor in the GPU image" in p for p in found)
    assert any("pydantic-core 2.50.4 is carried" in p for p in found)
    assert any("torch 2.11.0 is in the GPU image" in p for p in found)
