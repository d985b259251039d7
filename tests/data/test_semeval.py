"""SemEval-2010 Task 8 reader: real counts against the release's own distribution file, the 19 -> 10
collapse, and clear errors for malformed files."""

import collections
import re

import pytest

from harness.data.labels import SEMEVAL_10, SEMEVAL_19, semeval_collapse
from harness.data.readers import read_semeval

# Written out by hand (not derived from labels.py), the 19 -> 10 mapping.
COLLAPSE = {
    "Cause-Effect(e1,e2)": "Cause-Effect", "Cause-Effect(e2,e1)": "Cause-Effect",
    "Component-Whole(e1,e2)": "Component-Whole", "Component-Whole(e2,e1)": "Component-Whole",
    "Content-Container(e1,e2)": "Content-Container", "Content-Container(e2,e1)": "Content-Container",
    "Entity-Destination(e1,e2)": "Entity-Destination", "Entity-Destination(e2,e1)": "Entity-Destination",
    "Entity-Origin(e1,e2)": "Entity-Origin", "Entity-Origin(e2,e1)": "Entity-Origin",
    "Instrument-Agency(e1,e2)": "Instrument-Agency", "Instrument-Agency(e2,e1)": "Instrument-Agency",
    "Member-Collection(e1,e2)": "Member-Collection", "Member-Collection(e2,e1)": "Member-Collection",
    "Message-Topic(e1,e2)": "Message-Topic", "Message-Topic(e2,e1)": "Message-Topic",
    "Product-Producer(e1,e2)": "Product-Producer", "Product-Producer(e2,e1)": "Product-Producer",
    "Other": "Other",
}


def parse_distrib(path):
    """{"TRAINING": Counter, "TEST": Counter} from TRAIN_TEST_DISTRIB.TXT (10-class counts and TOTAL)."""
    out, cur = {}, None
    for line in path.read_text().splitlines():
        m = re.match(r"<<<Distribution for (\w+) examples>>>", line.strip())
        if m:
            cur = out.setdefault(m.group(1), collections.Counter())
            continue
        m = re.match(r"\s*([\w-]+)\s*:\s*(\d+)", line)
        if m and cur is not None:
            cur[m.group(1)] = int(m.group(2))
    return out


@pytest.fixture(scope="module")
def semeval(data_dir):
    d = data_dir / "semeval2010_task8"
    return d, read_semeval(d / "TRAIN_FILE.TXT", "train"), read_semeval(d / "TEST_FILE_FULL.TXT", "test")


@pytest.mark.data
def test_semeval_counts_match_distribution_file(semeval):
    d, train, test = semeval
    dist = parse_distrib(d / "TRAIN_TEST_DISTRIB.TXT")
    assert len(train) == 8000 and len(test) == 2717
    for name, exs in (("TRAINING", train), ("TEST", test)):
        expected = dict(dist[name])
        assert expected.pop("TOTAL") == len(exs)
        assert len(expected) == 10
        assert dict(collections.Counter(COLLAPSE[ex.label] for ex in exs)) == expected
    assert {ex.label for ex in train} == set(SEMEVAL_19) == {ex.label for ex in test}


@pytest.mark.data
def test_semeval_test_labels_equal_directional_key(semeval):
    d, _, test = semeval
    key = dict(line.split("\t") for line in (d / "TEST_FILE_KEY_DIRECTIONAL.TXT").read_text().splitlines())
    assert {ex.id: ex.label for ex in test} == key


@pytest.mark.data
def test_semeval_ids_spans_and_markers(semeval):
    _, train, test = semeval
    assert [ex.id for ex in train] == [str(i) for i in range(1, 8001)]
    assert [ex.id for ex in test] == [str(i) for i in range(8001, 10718)]
    for ex in train + test:
        hs, ts = ex.head_span, ex.tail_span
        assert ex.text[hs[0]:hs[1]] == ex.head and ex.text[ts[0]:ts[1]] == ex.tail
        assert ex.text[hs[0] - 4:hs[0]] == "<e1>" and ex.text[hs[1]:hs[1] + 5] == "</e1>"
        assert ex.text[ts[0] - 4:ts[0]] == "<e2>" and ex.text[ts[1]:ts[1] + 5] == "</e2>"
        assert "\r" not in ex.text and "\t" not in ex.text
    assert train[0].head == "configuration" and train[0].tail == "elements"
    assert train[0].label == "Component-Whole(e2,e1)"
    # only the outer quotes go; quotes inside the sentence stay
    assert train[628].text.startswith('"Just like real baseball," he told the <e1>card</e1>')


@pytest.mark.data
def test_semeval_collapse_every_label(semeval):
    d, train, _ = semeval
    assert len(COLLAPSE) == 19 and set(COLLAPSE) == set(SEMEVAL_19)
    assert set(COLLAPSE.values()) == set(SEMEVAL_10)
    for lab in SEMEVAL_19:
        assert semeval_collapse(lab) == COLLAPSE[lab]
    collapsed = read_semeval(d / "TRAIN_FILE.TXT", "train", collapse=True)
    assert [ex.label for ex in collapsed] == [COLLAPSE[ex.label] for ex in train]
    with pytest.raises(ValueError, match="not a SemEval"):
        semeval_collapse("Cause-Effect")


GOOD = '1\t"The <e1>cat</e1> sat on the <e2>mat</e2>."\r\nOther\r\nComment:\r\n\r\n'


@pytest.mark.parametrize("content, line, what", [
    ("", None, "empty file"),
    ("   \n\n", None, "empty file"),
    (GOOD + 'x\t"The <e1>a</e1> b <e2>c</e2>."\nOther\nComment:\n\n', 5, "numeric id"),
    (GOOD + '2 "The <e1>a</e1> b <e2>c</e2>."\nOther\nComment:\n\n', 5, "TAB"),
    (GOOD + "2\tThe <e1>a</e1> b <e2>c</e2>.\nOther\nComment:\n\n", 5, "double quotes"),
    (GOOD + '2\t"The a b <e2>c</e2>."\nOther\nComment:\n\n', 5, "entity markers"),
    (GOOD + '2\t"The <e1>a</e1> <e1>b</e1> <e2>c</e2>."\nOther\nComment:\n\n', 5, "exactly one"),
    (GOOD + '2\t"The <e1>a</e1> b <e2>c</e2>."\nCause-Effect\nComment:\n\n', 6, "19 SemEval labels"),
    (GOOD + '2\t"The <e1>a</e1> b <e2>c</e2>."\nOther\nNote:\n\n', 7, "Comment"),
    (GOOD + '2\t"The <e1>a</e1> b <e2>c</e2>."\nOther\nComment:\nextra\n', 8, "blank line"),
    (GOOD + '2\t"The <e1>a</e1> b <e2>c</e2>."\nOther\n', 7, "incomplete block"),
    (GOOD + "\n" + GOOD, 5, "unexpected blank"),
    (GOOD + GOOD, 5, "duplicate id 1"),
])
def test_semeval_bad_input_names_file_line_and_expectation(tmp_path, content, line, what):
    p = tmp_path / "BAD.TXT"
    p.write_text(content)
    with pytest.raises(ValueError) as e:
        read_semeval(p, "train")
    where = f"{p}:" if line is None else f"{p}:{line}:"
    assert str(e.value).startswith(where) and what in str(e.value)


def test_semeval_last_block_without_blank_line(tmp_path):
    p = tmp_path / "OK.TXT"
    p.write_text(GOOD + '2\t"A <e2>b</e2> and <e1>c</e1>."\nCause-Effect(e1,e2)\nComment: x')
    exs = read_semeval(p, "test")
    assert [(ex.id, ex.head, ex.tail, ex.label, ex.split) for ex in exs] == [
        ("1", "cat", "mat", "Other", "test"), ("2", "c", "b", "Cause-Effect(e1,e2)", "test")]
