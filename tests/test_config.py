import json

import pytest

from harness.config import ConfigError, RunConfig, load_config


def test_config_defaults_and_overrides(tmp_path):
    p = tmp_path / "run.json"
    p.write_text(json.dumps({"train": {"lr": 1e-4, "epochs": 2}, "run_dir": "x"}))
    cfg = load_config(p, ["train.micro_batch=4", "data.noise_rate=0.3", "train.activation_checkpointing=true"])
    assert isinstance(cfg, RunConfig)
    assert cfg.train.lr == 1e-4 and cfg.train.epochs == 2 and cfg.train.micro_batch == 4
    assert cfg.data.noise_rate == 0.3 and cfg.train.activation_checkpointing is True
    cfg.dump(tmp_path / "out.json")
    assert load_config(tmp_path / "out.json") == cfg


@pytest.mark.parametrize("override, msg", [
    ("train.nope=1", "unknown field 'nope'"),
    ("train.epochs=two", "expected int"),
    ("train=3", "names a section"),
    ("lr", "expected key=value"),
])
def test_config_bad_override_names_the_field(override, msg):
    with pytest.raises(ConfigError, match=msg):
        load_config(None, [override])


def test_config_bad_file_names_line(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"train": {\n "lr": }\n}')
    with pytest.raises(ConfigError, match=r"bad.json: line 2"):
        load_config(p)
    p.write_text(json.dumps({"train": {"lr": "fast"}}))
    with pytest.raises(ConfigError, match=r"train.lr: expected float"):
        load_config(p)
