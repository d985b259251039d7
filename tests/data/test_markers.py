"""Entity-marker parsing and insertion."""

import pytest

from harness.data.markers import MARKER_TAGS, insert_markers, parse_marked


def strip_markers(text: str) -> str:
    """The sentence without marker tags (a test helper: the package itself never strips markers)."""
    for tag in MARKER_TAGS:
        text = text.replace(tag, "")
    return text


def test_markers_defined_once_and_added_to_the_tokenizer_in_order():
    from harness.models.tokenizer import MARKERS

    assert MARKERS == list(MARKER_TAGS) == ["<e1>", "</e1>", "<e2>", "</e2>"]


def test_markers_parse_either_order():
    h, t, hs, ts = parse_marked("The <e1>cat</e1> sat on <e2>the mat</e2>.")
    assert (h, t, hs, ts) == ("cat", "the mat", (8, 11), (28, 35))
    h, t, hs, ts = parse_marked("<e2>Paris</e2> is home to <e1>Ann</e1>")
    assert (h, t, hs, ts) == ("Ann", "Paris", (30, 33), (4, 9))
    text = "<e2>Paris</e2> is home to <e1>Ann</e1>"
    assert text[hs[0]:hs[1]] == "Ann" and text[ts[0]:ts[1]] == "Paris"


@pytest.mark.parametrize("plain, hspan, tspan", [
    ("Ann lives in Paris.", (0, 3), (13, 18)),
    ("Ann lives in Paris.", (13, 18), (0, 3)),
    ("ab", (0, 1), (1, 2)),
    ("x Ann y", (2, 5), (0, 1)),
])
def test_markers_insert_then_parse_round_trip(plain, hspan, tspan):
    text, hs, ts = insert_markers(plain, hspan, tspan)
    assert strip_markers(text) == plain
    assert text[hs[0]:hs[1]] == plain[hspan[0]:hspan[1]] and text[ts[0]:ts[1]] == plain[tspan[0]:tspan[1]]
    assert parse_marked(text) == (plain[hspan[0]:hspan[1]], plain[tspan[0]:tspan[1]], hs, ts)


@pytest.mark.parametrize("text, what", [
    ("no markers", "exactly one each"),
    ("<e1>a</e1> <e1>b</e1> <e2>c</e2>", "<e1> x2"),
    ("</e1>a<e1> <e2>c</e2>", "comes before"),
    ("<e1> </e1> <e2>c</e2>", "head entity"),
    ("<e1>a <e2>b</e1> c</e2>", "overlap"),
    ("<e1>a <e2>b</e2> c</e1>", "overlap"),
])
def test_markers_parse_errors(text, what):
    with pytest.raises(ValueError, match=what):
        parse_marked(text)


@pytest.mark.parametrize("plain, hspan, tspan, what", [
    ("Ann lives", (0, 3), (2, 5), "overlap"),
    ("Ann lives", (0, 0), (4, 9), "non-empty"),
    ("Ann lives", (0, 3), (4, 10), "within the text"),
    ("Ann <e1>x</e1>", (0, 3), (4, 6), "already contains"),
])
def test_markers_insert_errors(plain, hspan, tspan, what):
    with pytest.raises(ValueError, match=what):
        insert_markers(plain, hspan, tspan)
