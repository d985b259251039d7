"""Test environment: CPU DeepSpeed, Triton's interpreter without CUDA, offline hub; the real-data fixture."""

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

# Read by Triton when a kernel is decorated, so set before any harness.kernels import.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
for _k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_k, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


TOOLING = ("benchmarks", "scripts")  # tests/<folder>/: the benchmark scripts and the GPU session kit, run end to end


def pytest_configure(config):
    config.addinivalue_line("markers", "tooling: runs a benchmark script or the GPU session kit end to end "
                                       f"(every test under tests/{{{','.join(TOOLING)}}}/; not in the fast tier)")


@pytest.hookimpl(tryfirst=True)  # before -m deselects: a real-data test without its marker is refused every time
def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(item.fspath).resolve().relative_to(ROOT / "tests").parts[0] in TOOLING:
            item.add_marker(pytest.mark.tooling)
    unmarked = [item.nodeid for item in items
                if "data_dir" in getattr(item, "fixturenames", ()) and item.get_closest_marker("data") is None]
    if unmarked:
        raise pytest.UsageError(f"{len(unmarked)} test(s) read the real data (the data_dir fixture) without the "
                                f"`data` marker, e.g. {unmarked[0]}: add @pytest.mark.data")
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real RE data. $HARNESS_DATA_DIR set but absent is an error, not a skip (CI sets it)."""
    env = os.environ.get("HARNESS_DATA_DIR")
    if env:
        path = Path(env)
        if not path.is_dir():
            pytest.fail(f"HARNESS_DATA_DIR={env} is set but is not a directory: the real-data tests cannot run")
        return path
    path = ROOT.parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip("real data not found (set HARNESS_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def minilm():
    """The ``minilm-l6`` asset's SentenceEmbedder, loaded once (tests marked ``model``; a missing wheel fails with
    the asset's one-line error, the project's set-up installs it)."""
    from harness.models.embed import SentenceEmbedder

    return SentenceEmbedder("minilm-l6")
