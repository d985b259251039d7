"""The typed example every reader produces, and JSONL (de)serialisation of example lists."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from harness.manifest import iter_jsonl
from harness.run import atomic_write_jsonl


@dataclass(frozen=True)
class Example:
    id: str  # unique within a dataset (SemEval sentence id, "conll04:<split>:<sent>:<h>:<t>", ...)
    text: str  # the sentence with entity markers <e1>..</e1> (head) and <e2>..</e2> (tail)
    head: str  # head entity surface text
    tail: str  # tail entity surface text
    head_span: tuple[int, int]  # character span [start, end) of the head text inside `text`
    tail_span: tuple[int, int]  # character span [start, end) of the tail text inside `text`
    label: str  # gold label (a name in the dataset's label space)
    split: str  # train | dev | test
    weak_label: str | None = None  # noisy / weak label used for training when set
    is_noisy: bool = False  # weak_label differs from the gold label

    @property
    def train_label(self) -> str:
        """The label the model is trained on: the weak label when present, else gold."""
        return self.weak_label if self.weak_label is not None else self.label

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["head_span"], d["tail_span"] = list(self.head_span), list(self.tail_span)
        return d

    @classmethod
    def from_json(cls, d: dict) -> Example:
        d = dict(d)
        d["head_span"], d["tail_span"] = tuple(d["head_span"]), tuple(d["tail_span"])
        return cls(**d)


def fingerprint(examples: list[Example]) -> str:
    """Content hash of an example list (order-sensitive): ids, texts and training labels."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(json.dumps([ex.id, ex.text, ex.label, ex.weak_label], ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def write_jsonl(examples: list[Example], path: str | Path) -> None:
    """One example per line, written atomically."""
    atomic_write_jsonl(path, (ex.to_json() for ex in examples))


def read_examples_jsonl(path: str | Path) -> list[Example]:
    """Read what ``write_jsonl`` wrote (the harness's own format; user data goes through readers.jsonl)."""
    out = []
    for i, rec in iter_jsonl(path, "examples file"):
        try:
            out.append(Example.from_json(rec))
        except (TypeError, KeyError) as e:
            raise ValueError(f"{path}:{i}: not an example record ({e})") from e
    return out
