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


@pytest.mark.parametrize("override, hint", [
    ("train.lrr=1e-5", "did you mean train.lr?"),  # a misspelled field of the right section
    ("trian.lr=1e-5", "did you mean train.lr"),  # a misspelled section
    ("lr=1e-5", "did you mean train.lr?"),  # the right field without its section
    ("data.lr=1e-5", "did you mean train.lr?"),  # ... or in the wrong one
    ("run_dr=x", "did you mean run_dir?"),
    ("eval.metod=generate", "did you mean eval.method?"),
    ("train.zzzz=1", "TrainConfig has ['activation_checkpointing', "),  # nothing close: the section's fields
])
def test_config_unknown_set_field_did_you_mean(override, hint):
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    assert hint in str(info.value) and "\n" not in str(info.value)


def test_config_unknown_file_field_did_you_mean(tmp_path):
    p = tmp_path / "run.json"
    p.write_text(json.dumps({"train": {"lrr": 1e-5, "epochz": 2}}))
    with pytest.raises(ConfigError, match=r"run.json.train: unknown field\(s\) \['epochz', 'lrr'\]; "
                                          r"'epochz': did you mean epochs\?; 'lrr': did you mean lr\?"):
        load_config(p)


def test_config_wrong_shapes_are_config_errors(tmp_path):
    p = tmp_path / "run.json"
    p.write_text("[1, 2]")
    with pytest.raises(ConfigError, match=r"run.json: expected a JSON object of RunConfig fields, got list"):
        load_config(p)
    p.write_text(json.dumps({"train": 3}))
    with pytest.raises(ConfigError, match=r"--set train.lr: the config holds train=3"):
        load_config(p, ["train.lr=1"])
    with pytest.raises(ConfigError, match=r"run.json.train: expected a JSON object of TrainConfig fields"):
        load_config(p)
    with pytest.raises(ConfigError, match=r"config file not found: .*absent.json; give --config"):
        load_config(tmp_path / "absent.json")


def test_config_error_is_an_input_error():
    from harness.cli import InputError

    assert issubclass(ConfigError, InputError) and issubclass(ConfigError, ValueError)


@pytest.mark.parametrize("name", ["semeval", "conll04"])
def test_config_example_files_load_with_comments(name):
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.json"
    cfg = load_config(path)
    assert cfg.data.dataset == name and cfg.train.eval_split == "dev" and cfg.train.lr == 1e-5
    assert "//" in path.read_text()  # the comments are there, and dropped by the loader


def test_config_comment_keys_dropped_at_every_level(tmp_path):
    import json

    p = tmp_path / "c.json"
    p.write_text(json.dumps({"//": "top", "train": {"//lr": "why", "lr": 0.5}}))
    assert load_config(p).train.lr == 0.5
