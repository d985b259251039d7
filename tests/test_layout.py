"""Test-tree hygiene: pytest's default import mode needs unique module basenames across test folders."""

from collections import Counter
from pathlib import Path


def test_layout_test_module_basenames_are_unique():
    names = Counter(p.name for p in Path(__file__).parent.rglob("*.py") if p.name != "__init__.py")
    assert [n for n, c in names.items() if c > 1] == []
