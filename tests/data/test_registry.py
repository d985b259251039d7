"""The dataset registry: every entry's defaults resolve, lookups, and the metric view found by label space."""

import pytest

from harness.config import DataConfig
from harness.data.dataset import load_splits
from harness.data.labels import SPACES
from harness.data.prompts import TEMPLATES
from harness.data.registry import DATASETS, REGISTRY, get_dataset, metric_view_of
from harness.eval.metrics import METRIC_VIEWS


def test_registry_names_and_lookup():
    assert DATASETS == ("semeval", "conll04", "jsonl", "synthetic", "tacred")
    assert all(get_dataset(name).name == name for name in DATASETS)
    with pytest.raises(ValueError, match=r"data.dataset='fewrel'; expected one of \('semeval', .*'tacred'\)"):
        get_dataset("fewrel")
    with pytest.raises(ValueError, match="data.dataset='fewrel'"):
        load_splits(DataConfig(dataset="fewrel"))


def test_registry_every_entry_resolves_its_defaults():
    claimed = [space for spec in REGISTRY.values() for space in spec.spaces]
    assert len(claimed) == len(set(claimed))
    for spec in REGISTRY.values():
        assert spec.default_template in TEMPLATES and spec.metric_view in METRIC_VIEWS
        for mode in ("gold-pairs", "all-pairs"):
            name = spec.default_space(DataConfig(dataset=spec.name, conll04_mode=mode))
            assert name is None or (name in SPACES and name in spec.spaces)
    assert get_dataset("conll04").default_space(DataConfig(conll04_mode="all-pairs")) == "conll04_all"
    assert get_dataset("conll04").default_space(DataConfig(conll04_mode="pairs")) is None


def test_registry_metric_view_by_label_space():
    assert [metric_view_of(n) for n in ("semeval19", "semeval10", "conll04", "conll04_all", "synthetic",
                                        "custom", "tacred", "hand-built")] == [
        "semeval", "semeval", "conll04", "conll04", "relations", "relations", "tacred", "relations"]


def test_registry_needs_data_dir_unless_built_in():
    assert [name for name in DATASETS if not get_dataset(name).needs_files] == ["synthetic"]
    with pytest.raises(ValueError, match="data.dataset='tacred' needs data.data_dir"):
        load_splits(DataConfig(dataset="tacred"))
