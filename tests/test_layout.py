"""Test-tree hygiene.

pytest's default import mode imports a test-tree module by its basename (its folder, which has no __init__.py, goes
on sys.path), so two modules with the same basename in different folders collide. Exempt: conftest.py (pytest
unloads the previous ``conftest`` before importing the next, so one per folder is fine) and the modules of a package
(tests/support/: imported by dotted name, ``support.<module>``).
What several modules need lives once, in tests/support/: the free port, the torchrun command line, the CLI runner
and the script loader; no other module re-implements them."""

import re
from collections import Counter
from pathlib import Path

TESTS = Path(__file__).parent


def _by_basename() -> list[Path]:
    """The test-tree modules imported by basename: every .py outside a package, conftest.py aside."""
    return [p for p in TESTS.rglob("*.py")
            if p.name != "conftest.py" and not (p.parent / "__init__.py").is_file()]


def test_layout_test_module_basenames_are_unique():
    names = Counter(p.stem for p in _by_basename())
    packages = {p.parent.name for p in TESTS.rglob("__init__.py") if p.parent.parent == TESTS}
    assert [n for n, c in names.items() if c > 1] == []
    assert sorted(packages & set(names)) == []  # a module named like a package would shadow it


def test_layout_shared_helpers_live_in_support_only():
    rules = {"a free-port helper": re.compile(r"\.bind\(\(\"127\.0\.0\.1\", 0\)\)"),
             "a torchrun command line": re.compile(r"\"torch\.distributed\.run\""),
             "a script loader": re.compile(r"spec_from_file_location")}
    bad = [f"{p.relative_to(TESTS)}: {what}" for p in TESTS.rglob("*.py")
           if "support" not in p.relative_to(TESTS).parts and p.name != "test_layout.py"
           for what, rx in rules.items() if rx.search(p.read_text())]
    assert bad == [], "use tests/support (free_port, torchrun, cli, load_script / load_launch) instead"
