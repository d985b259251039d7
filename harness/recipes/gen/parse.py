"""Completion -> validated sample, or a reject reason. Nothing is dropped silently: every completion ends as an
accepted sample or as a reject with one of REASONS (counted, written to rejects.jsonl).

A completion continues the prompt's ``head:``; it is cut at its first newline. The line must read
``<head> | tail: <tail> | sentence: <sentence>`` (fields stripped of surrounding spaces). The head is located at
its first occurrence that leaves room for a non-overlapping tail occurrence, the tail at the first such one;
<e1>/<e2> markers are then inserted (harness.data.markers). Matching is exact (case and spaces count).
"""

from __future__ import annotations

import re

from harness.data.examples import Example
from harness.data.markers import MARKER_TAGS, insert_markers
from harness.recipes.gen.prompt import Sample

REASONS = ("empty", "unparseable", "marker_tags", "no_entity", "same_entity", "entity_not_in_sentence",
           "gold_copy", "duplicate", "not_selected", "surplus")
# the last four are well-formed samples not kept: gold_copy: the sentence is a gold training sentence (any relation)
# up to ``copy_key``; duplicate: the same sentence as an earlier sample or demonstration of the relation;
# not_selected: one-by-one best-of-k chose another candidate of the step; surplus: batch had its samples already
VALID_REASONS = ("gold_copy", "duplicate", "not_selected", "surplus")
COPY_REASONS = ("gold_copy", "duplicate")  # well-formed but copied: the dispreferred side of a preference pair
_LINE = re.compile(r"^\s*(?P<head>.*?)\s*\|\s*tail:\s*(?P<tail>.*?)\s*\|\s*sentence:\s*(?P<sentence>.*?)\s*$")


def copy_key(sentence: str) -> str:
    """The form in which two sentences are compared for ``gold_copy``: whitespace runs collapsed to one space, ends
    stripped, case folded (``str.casefold``); punctuation and every other character count."""
    return " ".join(sentence.split()).casefold()


def completion_line(text: str) -> str:
    """What the generator wrote for one sample: the completion up to its first newline."""
    return text.split("\n", 1)[0]


def parse_sample(completion: str) -> tuple[Sample | None, str]:
    """``(sample, "")`` or ``(None, reason)`` for a completion, without the duplicate check."""
    line = completion_line(completion)
    if not line.strip():
        return None, "empty"
    m = _LINE.match(line)
    if m is None or not m["sentence"]:
        return None, "unparseable"
    head, tail, sentence = m["head"], m["tail"], m["sentence"]
    if any(tag in line for tag in MARKER_TAGS):
        return None, "marker_tags"
    if not head or not tail:
        return None, "no_entity"
    if head == tail:
        return None, "same_entity"
    if _spans(head, tail, sentence) is None:
        return None, "entity_not_in_sentence"
    return Sample(head, tail, sentence), ""


def _occurrences(text: str, sub: str) -> list[int]:
    out, start = [], 0
    while (i := text.find(sub, start)) >= 0:
        out.append(i)
        start = i + 1
    return out


def _spans(head: str, tail: str, sentence: str) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The head's first occurrence that has a non-overlapping tail occurrence, and that tail's first one."""
    tails = _occurrences(sentence, tail)
    for hs in _occurrences(sentence, head):
        he = hs + len(head)
        for ts in tails:
            if ts + len(tail) <= hs or ts >= he:
                return (hs, he), (ts, ts + len(tail))
    return None


def to_example(sample: Sample, ex_id: str, label: str, split: str = "train") -> Example:
    """The harness's example of a valid sample: markers around the located entities."""
    spans = _spans(sample.head, sample.tail, sample.sentence)
    if spans is None:
        raise ValueError(f"{ex_id}: the entities are not both in the sentence; parse_sample refuses such samples")
    text, hs, ts = insert_markers(sample.sentence, *spans)
    return Example(id=ex_id, text=text, head=sample.head, tail=sample.tail, head_span=hs, tail_span=ts, label=label,
                   split=split)
