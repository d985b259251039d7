"""Entity markers: parse ``<e1>..</e1> <e2>..</e2>`` out of a marked sentence, or insert them around spans.

Both return the entity texts and their character spans *inside the marked text* (what ``Example`` stores).
Errors are plain ``ValueError`` messages without a location; readers prefix ``file:line:``.
The tag strings are defined here only (readers, examples and the tokenizer's added tokens import them).
"""

from __future__ import annotations

HEAD_OPEN, HEAD_CLOSE, TAIL_OPEN, TAIL_CLOSE = "<e1>", "</e1>", "<e2>", "</e2>"
MARKER_TAGS = (HEAD_OPEN, HEAD_CLOSE, TAIL_OPEN, TAIL_CLOSE)  # this order = the tokenizer's added-token order


def parse_marked(text: str) -> tuple[str, str, tuple[int, int], tuple[int, int]]:
    """``(head, tail, head_span, tail_span)`` of a sentence carrying exactly one of each marker tag.

    The head and tail may come in either order but may not overlap or nest, and neither may be empty.
    """
    counts = {tag: text.count(tag) for tag in MARKER_TAGS}
    bad = [f"{tag} x{n}" for tag, n in counts.items() if n != 1]
    if bad:
        raise ValueError(f"expected exactly one each of {' '.join(MARKER_TAGS)}; found {', '.join(bad)}")
    spans = []
    for open_tag, close_tag, role in ((HEAD_OPEN, HEAD_CLOSE, "head"), (TAIL_OPEN, TAIL_CLOSE, "tail")):
        start = text.index(open_tag) + len(open_tag)
        end = text.index(close_tag)
        if end < start:
            raise ValueError(f"{close_tag} comes before {open_tag}")
        if not text[start:end].strip():
            raise ValueError(f"the {role} entity between {open_tag} and {close_tag} is empty")
        spans.append((start, end))
    (hs, he), (ts, te) = spans
    if hs < te and ts < he:
        raise ValueError("the <e1> and <e2> entities overlap or nest")
    for s, e in spans:
        inner = text[s:e]
        if any(tag in inner for tag in MARKER_TAGS):
            raise ValueError(f"a marker tag lies inside the entity {inner!r}")
    return text[hs:he], text[ts:te], (hs, he), (ts, te)


def insert_markers(plain: str, head_span: tuple[int, int], tail_span: tuple[int, int]
                   ) -> tuple[str, tuple[int, int], tuple[int, int]]:
    """Wrap ``plain[head_span]`` in <e1>..</e1> and ``plain[tail_span]`` in <e2>..</e2>.

    Spans are ``[start, end)`` into ``plain``; returns the marked text and the spans inside it.
    """
    for role, (s, e) in (("head", head_span), ("tail", tail_span)):
        if not (isinstance(s, int) and isinstance(e, int)) or not 0 <= s < e <= len(plain):
            raise ValueError(f"{role} span {[s, e]} is not a non-empty [start, end) within the text "
                             f"(length {len(plain)})")
    if head_span[0] < tail_span[1] and tail_span[0] < head_span[1]:
        raise ValueError(f"head span {list(head_span)} and tail span {list(tail_span)} overlap")
    if any(tag in plain for tag in MARKER_TAGS):
        raise ValueError("the text already contains entity marker tags; give either markers or spans")
    pieces = sorted([(head_span, HEAD_OPEN, HEAD_CLOSE), (tail_span, TAIL_OPEN, TAIL_CLOSE)])
    out, cursor, new_spans = [], 0, {}
    length = 0
    for (s, e), open_tag, close_tag in pieces:
        out.append(plain[cursor:s] + open_tag)
        length += s - cursor + len(open_tag)
        new_spans[open_tag] = (length, length + e - s)
        out.append(plain[s:e] + close_tag)
        length += e - s + len(close_tag)
        cursor = e
    out.append(plain[cursor:])
    return "".join(out), new_spans[HEAD_OPEN], new_spans[TAIL_OPEN]
