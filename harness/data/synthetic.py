"""The embedded default dataset: SYNTHETIC relation-classification sentences generated from templates.

Not real data: every sentence is a fill-in of a hand-written template, and the relation label is fixed by
the template's wording (e.g. "<e1>X</e1> works for <e2>Y</e2>" is always Works_For). Each relation has several
phrasings (some with the tail first), optional lead-in phrases, and entity names drawn from small pools, so a
tiny model must learn the wording -> label mapping rather than memorise sentences. It exists so the main job
runs anywhere with no files; results on it say nothing about real relation extraction.
"""

from __future__ import annotations

import numpy as np

from harness.data.examples import Example
from harness.data.labels import NO_RELATION, SYNTHETIC_RELATIONS
from harness.data.markers import parse_marked

_POOLS = {
    "person": ["Alice Moreau", "Bruno Adeyemi", "Chen Wei", "Dana Kowalski", "Emil Novak", "Farah Haddad",
               "Greta Lind", "Hiro Tanaka", "Ines Duarte", "Jonas Berg", "Kavya Rao", "Luca Ferri"],
    "org": ["Northwind Labs", "Bluepeak Bank", "Orion Freight", "Cedar Health", "Vantage Media", "Ironleaf Tools",
            "Solace Energy", "Quarry Foods"],
    "place": ["Lisbon", "Nairobi", "Osaka", "Tromso", "Quito", "Perth", "Krakow", "Halifax", "Tunis", "Oulu"],
    "part": ["wheel", "keyboard", "chimney", "propeller", "handle", "lens", "valve", "drawer"],
    "whole": ["bicycle", "laptop", "house", "airplane", "suitcase", "camera", "engine", "cabinet"],
    "cause": ["storm", "fire", "earthquake", "leak", "strike", "drought", "explosion", "virus"],
    "effect": ["flood", "blackout", "delay", "shortage", "panic", "outbreak", "damage", "closure"],
}

# (head pool, tail pool, phrasings); {h} and {t} become the marked entities.
_RELATIONS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "Works_For": ("person", "org", ("{h} works for {t}.", "{h} is employed by {t}.",
                                    "{t} hired {h} as an engineer.", "{h} has been on the payroll of {t} for years.")),
    "Lives_In": ("person", "place", ("{h} lives in {t}.", "{h} has a small flat in {t}.",
                                     "{t} has been home to {h} since childhood.", "{h} resides in {t}.")),
    "Part_Of": ("part", "whole", ("The {h} is part of the {t}.", "The {t} has a broken {h}.",
                                  "The {h} belongs to the {t}.", "The {t} comes with a spare {h}.")),
    "Causes": ("cause", "effect", ("The {h} caused the {t}.", "The {t} was triggered by the {h}.",
                                   "The {h} led to a {t}.", "A {t} followed the {h}.")),
    "Located_In": ("org", "place", ("{h} is headquartered in {t}.", "{h} is based in {t}.",
                                    "{t} is where {h} has its main office.", "{h} opened its head office in {t}.")),
    NO_RELATION: ("person", "place", ("{h} has never heard of {t}.", "{h} read nothing about {t}.",
                                      "{t} was not mentioned by {h}.", "{h} and {t} appear in unrelated lists.")),
}
_LEADS = ("", "Yesterday, ", "According to the report, ", "As expected, ", "In short, ")
SYNTHETIC_LABELS = SYNTHETIC_RELATIONS + (NO_RELATION,)
assert set(_RELATIONS) == set(SYNTHETIC_LABELS)


def _sentence(rng: np.random.Generator, label: str) -> str:
    head_pool, tail_pool, phrasings = _RELATIONS[label]
    phrasing = phrasings[int(rng.integers(len(phrasings)))]
    head = _POOLS[head_pool][int(rng.integers(len(_POOLS[head_pool])))]
    tail = _POOLS[tail_pool][int(rng.integers(len(_POOLS[tail_pool])))]
    body = phrasing.format(h=f"<e1>{head}</e1>", t=f"<e2>{tail}</e2>")
    lead = _LEADS[int(rng.integers(len(_LEADS)))]
    if lead and body.startswith(("The ", "A ")):
        body = body[0].lower() + body[1:]
    return lead + body


def _generate(n: int, rng: np.random.Generator, split: str) -> list[Example]:
    out = []
    for i in range(n):
        label = SYNTHETIC_LABELS[int(rng.integers(len(SYNTHETIC_LABELS)))]
        text = _sentence(rng, label)
        head, tail, hs, ts = parse_marked(text)
        out.append(Example(id=f"synthetic:{split}:{i}", text=text, head=head, tail=tail, head_span=hs,
                           tail_span=ts, label=label, split=split))
    return out


def make_synthetic(n_train: int, seed: int, n_test: int = 0) -> tuple[list[Example], list[Example]]:
    """``(train, test)``: ``n_train`` and ``n_test`` (0 = ``n_train // 4``) seeded synthetic examples (labels uniform
    over the six labels of ``labels.SPACES["synthetic"]``). Train and test come from independent streams of
    ``seed``, so a larger ``n_test`` extends the same test stream (its first ``n_train // 4`` are the default set)."""
    if n_train < 1:
        raise ValueError(f"synthetic set needs n_train >= 1, got {n_train}")
    if n_test < 0:
        raise ValueError(f"synthetic set needs n_test >= 0, got {n_test}")
    train = _generate(n_train, np.random.default_rng([seed, 0]), "train")
    test = _generate(n_test or n_train // 4, np.random.default_rng([seed, 1]), "test")
    return train, test
