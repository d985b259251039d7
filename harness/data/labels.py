"""Label spaces: SemEval-2010 Task 8 (19 directional, 10 collapsed), CoNLL04 (5 relations, + no-relation), Re-TACRED (40)."""

from __future__ import annotations

from dataclasses import dataclass

SEMEVAL_RELATIONS = (
    "Cause-Effect",
    "Component-Whole",
    "Content-Container",
    "Entity-Destination",
    "Entity-Origin",
    "Instrument-Agency",
    "Member-Collection",
    "Message-Topic",
    "Product-Producer",
)
SEMEVAL_OTHER = "Other"
SEMEVAL_19 = tuple(f"{r}({d})" for r in SEMEVAL_RELATIONS for d in ("e1,e2", "e2,e1")) + (SEMEVAL_OTHER,)
SEMEVAL_10 = SEMEVAL_RELATIONS + (SEMEVAL_OTHER,)

CONLL04_RELATIONS = ("Kill", "Live_In", "Located_In", "OrgBased_In", "Work_For")
NO_RELATION = "No_Relation"


def semeval_collapse(label: str) -> str:
    """``Cause-Effect(e2,e1)`` -> ``Cause-Effect``; ``Other`` stays."""
    if label not in SEMEVAL_19:
        raise ValueError(f"not a SemEval-2010 Task 8 label: {label!r}; expected one of {SEMEVAL_19}")
    return label.split("(", 1)[0]


def semeval_flip(label: str) -> str:
    """Reverse the direction of a directional label (``Other`` stays)."""
    if label == SEMEVAL_OTHER:
        return label
    rel, d = label[:-1].split("(")
    return f"{rel}({'e2,e1' if d == 'e1,e2' else 'e1,e2'})"


@dataclass(frozen=True)
class LabelSpace:
    name: str  # semeval19 | semeval10 | conll04 | conll04_all | synthetic | custom
    labels: tuple[str, ...]  # label names in a fixed order; index = class id
    none_label: str | None = None  # the "no relation" label excluded from averaged metrics, if any

    def index(self, label: str) -> int:
        try:
            return self.labels.index(label)
        except ValueError:
            raise ValueError(f"unknown label {label!r} for label space {self.name}; expected one of {self.labels}") from None

    def __contains__(self, label: str) -> bool:
        return label in self.labels

    def __len__(self) -> int:
        return len(self.labels)


SPACES = {
    "semeval19": LabelSpace("semeval19", SEMEVAL_19, SEMEVAL_OTHER),
    "semeval10": LabelSpace("semeval10", SEMEVAL_10, SEMEVAL_OTHER),
    "conll04": LabelSpace("conll04", CONLL04_RELATIONS),
    "conll04_all": LabelSpace("conll04_all", CONLL04_RELATIONS + (NO_RELATION,), NO_RELATION),
}


def get_space(name: str) -> LabelSpace:
    if name not in SPACES:
        raise ValueError(f"unknown label space {name!r}; known: {sorted(SPACES)}")
    return SPACES[name]

# The embedded synthetic set (harness.data.synthetic): five template-worded relations and a no-relation class.
SYNTHETIC_RELATIONS = ("Works_For", "Lives_In", "Part_Of", "Causes", "Located_In")
SPACES["synthetic"] = LabelSpace("synthetic", SYNTHETIC_RELATIONS + (NO_RELATION,), NO_RELATION)

# Re-TACRED (Stoica et al. 2021; TACRED's JSON format, data.dataset=tacred): its 40 labels in the order of the QA4RE
# reference's RETACRED_LABELS (OSU-NLP-Group/QA4RE @a299f6e, projs/re_templates.py). TACRED and TACREV need no entry:
# their space is derived from the files (harness.data.registry).
RETACRED_LABELS = (
    "no_relation", "per:identity", "per:title", "per:employee_of", "org:top_members/employees", "org:alternate_names",
    "org:country_of_branch", "org:city_of_branch", "org:members", "per:age", "per:origin", "per:spouse",
    "org:member_of", "org:stateorprovince_of_branch", "per:date_of_death", "per:countries_of_residence",
    "per:children", "per:cause_of_death", "per:stateorprovinces_of_residence", "per:cities_of_residence",
    "per:city_of_death", "per:parents", "per:siblings", "org:political/religious_affiliation", "per:charges",
    "org:website", "per:schools_attended", "org:founded_by", "org:shareholders", "per:religion", "per:other_family",
    "per:city_of_birth", "org:founded", "per:stateorprovince_of_death", "per:date_of_birth",
    "org:number_of_employees/members", "per:stateorprovince_of_birth", "per:country_of_death", "per:country_of_birth",
    "org:dissolved",
)
SPACES["retacred"] = LabelSpace("retacred", RETACRED_LABELS, "no_relation")
