"""Sentence-embedding relation alignment (harness.recipes.docre.align, LMRC appendix B) and its counts in the parser.

Without a model: the parser's alignment bookkeeping with a fake embedder (known vectors). With the ``minilm-l6``
asset (marked ``model``): crafted paraphrases and misspellings of DocRED relation names against unrelated strings
at LMRC's threshold 0.55; similarities quoted in the comments were measured once (2026-12-04, all-MiniLM-L6-v2)."""

import json
from pathlib import Path

import pytest
import torch

from harness.cli import InputError
from harness.recipes.docre.align import RelationAligner
from harness.recipes.docre.parse import parse_generation, parse_outputs
from harness.recipes.docre.reader import read_docred

DOCS = read_docred(Path(__file__).parent / "fixtures" / "docs.json")
REL = {"P17": "country", "P19": "place of birth", "P36": "capital", "P108": "employer", "P463": "member of"}
MARA = DOCS[0]
THETA = 0.55  # LMRC appendix B: F1 peaked near 0.55


class FakeEmbedder:
    """Unit vectors from a table: each relation name its own axis; an answer a known mix of axes."""

    AXES = {name: i for i, name in enumerate(REL.values())}
    MIX = {"works at": {"employer": 0.8, "member of": 0.6}, "birthplace": {"place of birth": 1.0},
           "banana": {"country": 0.3, "capital": 0.3, "other": 0.9}}

    def __init__(self):
        self.calls = []

    def embed(self, texts):
        self.calls.append(list(texts))
        out = torch.zeros(len(texts), 8)
        for k, t in enumerate(texts):
            for name, w in (self.MIX.get(t) or {t: 1.0}).items():
                out[k, self.AXES.get(name, 7)] += w
        return torch.nn.functional.normalize(out, dim=-1)


def test_parser_counts_aligned_and_unknown_relations():
    fake = FakeEmbedder()
    aligner = RelationAligner(REL, THETA, embedder=fake)
    out = ("(Mara Quill| Works  At| Harrow Press)\n(Mara Quill| birthplace| Tallinford)\n"
           "(Mara Quill| banana| Tallinford)\n(Nobody Known| works at| Harrow Press)\n(Mara Quill| employer| Harrow Press)")
    res = parse_generation(out, MARA, REL, aligner=aligner)
    assert [(x["h_idx"], x["t_idx"], x["r"]) for x in res.predictions] == [(0, 2, "P108"), (0, 1, "P19")]
    # 'works at' cos 0.8 -> employer (twice, once with an unknown head), 'birthplace' 1.0; 'banana' 0.30 < 0.55;
    # the exact 'employer' triple is a duplicate of the aligned one
    assert res.report()["aligned_relations"] == {"works at -> employer": 2, "birthplace -> place of birth": 1}
    assert res.report()["aligned"] == 3 and res.aligned_kept == 2
    assert res.dropped["unknown_relation"] == 1 and res.dropped["unmatched_head"] == 1
    assert res.dropped["duplicate"] == 1
    assert sorted(fake.calls[1]) == ["works at"] and ["works at"] not in fake.calls[2:]  # one embedding per answer
    off = parse_generation(out, MARA, REL)  # no aligner: every out-of-set relation is unknown
    assert off.dropped["unknown_relation"] == 4 and off.report()["aligned"] == 0 and len(off.predictions) == 1


def test_parse_outputs_passes_the_aligner():
    aligner = RelationAligner(REL, THETA, embedder=FakeEmbedder())
    res = parse_outputs([(0, [[0, 2]], "(Mara Quill| works at| Harrow Press)")], DOCS, REL, aligner=aligner)
    assert res.aligned_kept == 1 and res.predictions[0]["r"] == "P108"


@pytest.mark.parametrize("theta", [0.0, -0.1, 1.5])
def test_threshold_outside_the_cosine_range_is_refused(theta):
    with pytest.raises(InputError, match="cosine similarity in \\(0, 1\\]"):
        RelationAligner(REL, theta, embedder=FakeEmbedder())


# paraphrase / misspelling -> the DocRED relation name it should align to (cosine measured once, all 96 names)
ALIGNED = {"birth date": "date of birth",  # 0.951
           "born in": "place of birth",  # 0.718
           "citizenship": "country of citizenship",  # 0.840
           "country of citizen": "country of citizenship",  # 0.878
           "wife": "spouse",  # 0.857
           "husband": "spouse",  # 0.868
           "employed by": "employer",  # 0.653
           "plays for team": "member of sports team",  # 0.657
           "capital city of": "capital of",  # 0.805
           "publication year": "publication date",  # 0.842
           "author of": "author",  # 0.897
           "educated att": "educated at",  # misspelt, 0.782
           "headquarter location": "headquarters location"}  # misspelt, 0.599
# below the threshold: dropped, never mis-aligned ('place of birht' is nearest to 'place of death', 0.454)
DROPPED_MISSPELT = ["date of brith", "place of birht"]  # 0.478, 0.454
UNRELATED = ["The girl is carrying a baby.", "banana smoothie recipe", "-", "purple elephant", "I don't know",
             "asdfgh"]  # at most 0.325


@pytest.mark.model
@pytest.mark.data
def test_minilm_aligns_paraphrases_not_unrelated_strings(minilm, data_dir):
    relations = json.loads((data_dir / "docred" / "rel_info.json").read_text())
    aligner = RelationAligner(relations, THETA, embedder=minilm)
    for answer, name in ALIGNED.items():
        pid, sim, nearest = aligner.align(answer)
        assert (pid is not None, nearest) == (True, name), (answer, sim, nearest)
        assert relations[pid] == name
    for answer in DROPPED_MISSPELT:
        assert aligner.align(answer)[0] is None, answer
    sims = [aligner.align(s)[1] for s in UNRELATED]
    assert max(sims) < 0.4, list(zip(UNRELATED, sims))


@pytest.mark.model
def test_minilm_alignment_changes_the_parser_counts(minilm):
    out = ("(Mara Quill| employed by| Harrow Press)\n(Mara Quill| birthplace| Tallinford)\n"
           "(Mara Quill| purple elephant| Tallinford)\n(Mara Quill| -| Harrow Press)")
    off = parse_generation(out, MARA, REL)
    on = parse_generation(out, MARA, REL, aligner=RelationAligner(REL, THETA, embedder=minilm))
    assert off.dropped["unknown_relation"] == 4 and not off.predictions
    assert on.dropped["unknown_relation"] == 2 and on.aligned_kept == 2
    assert on.report()["aligned_relations"] == {"employed by -> employer": 1, "birthplace -> place of birth": 1}


def test_stage_builds_the_aligner_only_when_asked():
    from harness.config import load_config
    from harness.recipes.docre.config import DocREConfig
    from harness.recipes.docre.stage import relation_aligner

    assert relation_aligner(DocREConfig(), REL) is None  # default 0: off
    bad = load_config(None, ["decode.relation_align=1.5"], cls=DocREConfig)
    with pytest.raises(InputError, match="got 1.5"):
        relation_aligner(bad, REL)  # refused before any model is loaded
