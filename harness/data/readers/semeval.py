"""SemEval-2010 Task 8 official files (TRAIN_FILE.TXT, TEST_FILE_FULL.TXT).

Blocks of four lines (CRLF in the release; '\\r' is stripped):
    <id>\\t"<sentence with <e1>..</e1> and <e2>..</e2>>"
    <label>                 one of the 19 directional labels
    Comment: ...
    <blank>                 (may be missing at the very end of the file)
"""

from __future__ import annotations

from pathlib import Path

from harness.data.examples import Example
from harness.data.labels import SEMEVAL_19, semeval_collapse
from harness.data.markers import parse_marked

TRAIN_FILE, TEST_FILE = "TRAIN_FILE.TXT", "TEST_FILE_FULL.TXT"


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"SemEval file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8/ASCII text ({e})") from e
    lines = [ln.rstrip("\r") for ln in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    if not any(ln.strip() for ln in lines):
        raise ValueError(f"{path}: empty file; expected SemEval-2010 Task 8 blocks (id<TAB>\"sentence\", "
                         "label, Comment:, blank line)")
    return lines


def _parse_block(path: Path, lines: list[str], i: int, split: str, collapse: bool) -> Example:
    """The block starting at 0-based line ``i``; errors name the 1-based line."""
    def err(offset: int, what: str) -> ValueError:
        got = lines[i + offset] if i + offset < len(lines) else "<end of file>"
        return ValueError(f"{path}:{i + offset + 1}: {what}; got {got[:120]!r}")

    if i + 2 >= len(lines):
        raise err(len(lines) - i, "incomplete block: expected 4 lines (id<TAB>\"sentence\", label, Comment:, blank)")
    head, label, comment = lines[i], lines[i + 1].strip(), lines[i + 2]
    sid, tab, quoted = head.partition("\t")
    if not tab or not sid.strip().isdigit():
        raise err(0, 'expected <numeric id><TAB>"sentence"')
    quoted = quoted.strip()
    if len(quoted) < 2 or quoted[0] != '"' or quoted[-1] != '"':
        raise err(0, "expected the sentence in double quotes after the tab")
    text = quoted[1:-1]
    try:
        h, t, hs, ts = parse_marked(text)
    except ValueError as e:
        raise err(0, f"bad entity markers: {e}") from None
    if label not in SEMEVAL_19:
        raise err(1, f"expected one of the 19 SemEval labels {SEMEVAL_19}")
    if not comment.startswith("Comment"):
        raise err(2, "expected a 'Comment:' line")
    if i + 3 < len(lines) and lines[i + 3].strip():
        raise err(3, "expected a blank line ending the block")
    return Example(id=sid.strip(), text=text, head=h, tail=t, head_span=hs, tail_span=ts,
                   label=semeval_collapse(label) if collapse else label, split=split)


def read_semeval(path: str | Path, split: str, *, collapse: bool = False) -> list[Example]:
    """All examples of one SemEval file, in file order. ``collapse`` maps labels to the 10-class space."""
    path = Path(path)
    lines = _read_lines(path)
    out: list[Example] = []
    seen: dict[str, int] = {}
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            raise ValueError(f"{path}:{i + 1}: unexpected blank line; expected the id<TAB>\"sentence\" line "
                             "of a block")
        ex = _parse_block(path, lines, i, split, collapse)
        if ex.id in seen:
            raise ValueError(f"{path}:{i + 1}: duplicate id {ex.id} (first on line {seen[ex.id]})")
        seen[ex.id] = i + 1
        out.append(ex)
        i += 4
    return out
