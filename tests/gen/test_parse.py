"""The completion parser: round trips through the harness's example format, and every reject reason."""

import pytest

from harness.data.markers import parse_marked
from harness.data.readers.jsonl import _record_example
from harness.recipes.gen.output import reader_record
from harness.recipes.gen.parse import parse_sample, to_example
from harness.recipes.gen.prompt import ANSWER_PREFIX, Sample


@pytest.mark.parametrize("sample", [
    Sample("Alice Moreau", "Lisbon", "Alice Moreau lives in Lisbon."),
    Sample("Lisbon", "Alice Moreau", "Alice Moreau lives in Lisbon."),  # tail before head
    Sample("Ann", "Annabel", "Annabel met Ann in Oslo."),  # head is a prefix of the tail: first free occurrence
    Sample("x", "y", "x y"),
    Sample("Zoë", "Île-de-France", "Zoë moved to Île-de-France | twice."),  # non-ASCII, a bar inside the sentence
])
def test_parse_round_trip(sample):
    line = sample.line()
    assert line.startswith(ANSWER_PREFIX)
    got, reason = parse_sample(line[len(ANSWER_PREFIX):] + "\nhead: more | tail: text | sentence: ignored")
    assert (got, reason) == (sample, "")
    ex = to_example(got, "gen:r:0:0", "Lives_In")
    head, tail, hs, ts = parse_marked(ex.text)
    assert (head, tail, hs, ts) == (sample.head, sample.tail, ex.head_span, ex.tail_span)
    assert ex.text.replace("<e1>", "").replace("</e1>", "").replace("<e2>", "").replace("</e2>", "") == sample.sentence
    assert _record_example(reader_record(ex), "d", "train") == ex  # what the jsonl reader reads back


def test_parse_marks_the_first_non_overlapping_occurrences():
    ex = to_example(Sample("Ann", "Annabel", "Annabel met Ann in Oslo."), "i", "L")
    assert ex.text == "<e2>Annabel</e2> met <e1>Ann</e1> in Oslo."


@pytest.mark.parametrize("completion, reason", [
    ("", "empty"),
    ("   \nhead: a | tail: b | sentence: a b", "empty"),
    (" just some words", "unparseable"),
    (" a | tail: b", "unparseable"),
    (" a | tail: b | sentence:   ", "unparseable"),
    (" a | sentence: a b | tail: b", "unparseable"),
    (" <e1>a</e1> | tail: b | sentence: <e1>a</e1> b", "marker_tags"),
    ("  | tail: b | sentence: a b", "no_entity"),
    (" a | tail:  | sentence: a b", "no_entity"),
    (" a | tail: a | sentence: a a", "same_entity"),
    (" Alice | tail: Paris | sentence: alice lives in Paris.", "entity_not_in_sentence"),  # case counts
    (" Alice | tail: Paris | sentence: Alice lives in", "entity_not_in_sentence"),
    (" Annabel | tail: Ann | sentence: Annabel sleeps.", "entity_not_in_sentence"),  # tail only inside the head
])
def test_parse_rejects_with_reason(completion, reason):
    assert parse_sample(completion) == (None, reason)


def test_to_example_refuses_an_invalid_sample():
    with pytest.raises(ValueError, match="not both in the sentence"):
        to_example(Sample("a", "b", "c"), "i", "L")
