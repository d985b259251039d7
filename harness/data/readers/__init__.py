"""Dataset readers: each turns files into ``harness.data.examples.Example`` lists or raises ``ValueError``
naming the file, the line (or record index) and what was expected."""

from harness.data.readers.conll04 import CONLL04_MODES, read_conll04
from harness.data.readers.jsonl import read_jsonl
from harness.data.readers.semeval import read_semeval

__all__ = ["CONLL04_MODES", "read_conll04", "read_jsonl", "read_semeval"]
