import pytest

from harness.manifest import ManifestMismatch, check_manifest, write_manifest


def test_manifest_roundtrip_and_mismatch(tmp_path):
    p = tmp_path / "m.json"
    write_manifest(p, {"dataset_fingerprint": "abc", "n": 3})
    assert check_manifest(p, {"n": 3})["dataset_fingerprint"] == "abc"
    with pytest.raises(ManifestMismatch, match=r"dataset_fingerprint: file has 'abc', expected 'xyz'"):
        check_manifest(p, {"dataset_fingerprint": "xyz"}, "weights file")
    with pytest.raises(FileNotFoundError, match="manifest not found"):
        check_manifest(tmp_path / "none.json", {})
