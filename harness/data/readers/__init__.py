"""Dataset readers: each turns files into ``harness.data.examples.Example`` lists or raises ``ValueError``
naming the file, the line (or record index) and what was expected. ``harness.data.registry`` wires each
reader to its dataset name."""

from harness.data.readers.conll04 import CONLL04_MODES, read_conll04
from harness.data.readers.jsonl import read_jsonl
from harness.data.readers.semeval import read_semeval
from harness.data.readers.tacred import read_tacred

__all__ = ["CONLL04_MODES", "read_conll04", "read_jsonl", "read_semeval", "read_tacred"]
