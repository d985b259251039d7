"""QA4RE prompts against the reference: OSU-NLP-Group/QA4RE at commit a299f6e9d9c881c4b9ca3231aa97b8cca99133b6.

The fixture ``fixtures/qa4re_re_templates_a299f6e.json`` is the data of the reference's
https://github.com/OSU-NLP-Group/QA4RE/blob/a299f6e9d9c881c4b9ca3231aa97b8cca99133b6/projs/re_templates.py
(``SURE_*_LABEL_TEMPLATES``, ``*_VALID_CONDITIONS_REV``, ``*_LABELS``), extracted verbatim with json.dumps (key
order kept). The expected prompts are built here from that data by the reference's own layout code, re-expressed
step for step: projs/QA4RE/qa4re_utils.py ``fill_prompt_format_re_df`` (the empty prompt) + ``build_final_input``
(zero-shot) and projs/vanillaRE/vanilla_re_utils.py ``params_update`` (``--no_class_explain``) +
``fill_prompt_format_re_df`` + ``build_final_input``. The prompt config YAMLs those read ship with the reference's
data, not its repository; their strings below are the paper's (Figure 1) and the reference's released prompts.
"""

import json
import re
from pathlib import Path

import pytest

from harness.config import DataConfig
from harness.data.dataset import load_splits
from harness.data.examples import Example
from harness.data.labels import RETACRED_LABELS, SEMEVAL_19, get_space
from harness.data.markers import parse_marked
from harness.recipes.qa4re import template_data as td
from harness.recipes.qa4re.prompts import build_question, build_questions, build_vanilla_question, qa_set_for

REF = json.loads((Path(__file__).parent / "fixtures" / "qa4re_re_templates_a299f6e.json").read_text())
# qa4re_prompt_config.yaml (task_instructions, example_format)
QA4RE_INSTRUCTIONS = "Determine which option can be inferred from the given Sentence."
QA4RE_EXAMPLE_FORMAT = "Sentence: {}\nWhich option can be inferred from the given Sentence?\nOption:"
# vanilla_prompt_config.yaml (task_instructions: its first line; sent_intro; example_format)
VANILLA_INSTRUCTIONS = ("Given a Sentence, and two Entities within the Sentence, classify the relationship between "
                        "the two Entities based on the provided Sentence. All possible Relationships are listed "
                        "below with explanations:")
VANILLA_SENT_INTRO = "Sentence:"
VANILLA_EXAMPLE_FORMAT = "Entity 1: {}\nEntity 2: {}\nRelationship:"
SETS = {  # dataset -> (templates, valid conditions rev, NoTA)
    "semeval": ("SURE_SEMEVAL_LABEL_TEMPLATES", "SEMEVAL_VALID_CONDITIONS_REV", "Other"),
    "tacred": ("SURE_TACRED_LABEL_TEMPLATES", "TACRED_VALID_CONDITIONS_REV", "no_relation"),
    "retacred": ("SURE_RETACRED_LABEL_TEMPLATES", "RETACRED_VALID_CONDITIONS_REV", "no_relation"),
}


def masked(ex: Example) -> str:
    """The reference's ``masked_sents``: the entity mentions replaced by ENT1 / ENT2."""
    return re.sub(r"<e2>.*?</e2>", "ENT2", re.sub(r"<e1>.*?</e1>", "ENT1", ex.text))


def reference_qa4re(dataset: str, sent_masked: str, ent1: str, ent2: str, type_cons: str) -> str:
    templates, rev, nota = REF[SETS[dataset][0]], REF[SETS[dataset][1]], SETS[dataset][2]
    sent = sent_masked.replace("ENT1", f"[{ent1}]").replace("ENT2", f"[{ent2}]")
    example = sent + "\nOptions:\n"
    start_chr = "A"
    for valid_relation in rev[type_cons] + [nota]:
        for template in templates[valid_relation]:
            example += f"{start_chr}. {template.format(subj=f'[{ent1}]', obj=f'[{ent2}]')}\n"
            start_chr = chr(ord(start_chr) + 1)
    empty_prompt = QA4RE_EXAMPLE_FORMAT.format(example)
    return (QA4RE_INSTRUCTIONS.strip() + "\n\n" + empty_prompt).strip()


def reference_vanilla(dataset: str, sent: str, ent1: str, ent2: str, type_cons: str) -> str:
    rev, nota = REF[SETS[dataset][1]], SETS[dataset][2]
    task = VANILLA_INSTRUCTIONS.split("\n")[0].replace("below with explanations", "below")  # --no_class_explain
    enumeration = "".join("- " + rel + "\n" for rel in rev[type_cons] + [nota])
    empty_prompt = (VANILLA_SENT_INTRO + " {}\n" + VANILLA_EXAMPLE_FORMAT).format(sent, ent1, ent2)
    return (task.strip() + "\n" + enumeration.strip() + "\n\n" + empty_prompt).strip()


def ex(text, label, ex_id="1"):
    head, tail, hs, ts = parse_marked(text)
    return Example(ex_id, text, head, tail, hs, ts, label, "test")


def test_qa4re_template_data_equals_the_reference_file():
    for name, (tmpl, rev, nota) in {"semeval19": SETS["semeval"], "tacred": SETS["tacred"],
                                     "retacred": SETS["retacred"]}.items():
        qa = qa_set_for(name)
        assert qa.templates == {k: tuple(v) for k, v in REF[tmpl].items()} and qa.nota == nota
        if name == "semeval19":
            assert qa.order == tuple(REF[rev]["MISC:MISC"]) and not qa.type_constraints
        else:
            assert qa.type_constraints == {k: tuple(v) for k, v in REF[rev].items()}
    assert tuple(REF["SEMEVAL_VALID_CONDITIONS_REV"]["MISC:MISC"]) == td.SEMEVAL_ORDER
    assert set(SEMEVAL_19) == set(REF["SEMEVAL_LABELS"])
    assert tuple(REF["RETACRED_LABELS"]) == RETACRED_LABELS and get_space("retacred").none_label == "no_relation"
    assert qa_set_for("retacred").templates["per:identity"] == ("{subj} is the identity/pronoun of {obj}",
                                                                "{subj} and {obj} are the same person")


CASES = [  # (dataset, marked sentence, label, entity types)
    ("semeval", "The <e1>storm</e1> caused the <e2>flood</e2>.", "Cause-Effect(e1,e2)", ("MISC", "MISC")),
    ("tacred", "<e1>Bill Gates</e1> was born in <e2>Seattle</e2> .", "per:city_of_birth", ("PERSON", "CITY")),
    ("tacred", "<e1>Acme</e1> , a unit of <e2>Globex</e2> , said .", "org:parents", ("ORGANIZATION", "ORGANIZATION")),
    ("retacred", "<e1>Kercher</e1> said <e2>she</e2> left .", "per:identity", ("PERSON", "PERSON")),
    ("retacred", "<e1>Acme</e1> opened in <e2>Ohio</e2> .", "org:stateorprovince_of_branch",
     ("ORGANIZATION", "STATE_OR_PROVINCE")),
]


@pytest.mark.parametrize("dataset,text,label,types", CASES)
def test_qa4re_prompts_equal_the_reference_layout(dataset, text, label, types):
    e = ex(text, label)
    qa = qa_set_for({"semeval": "semeval19"}.get(dataset, dataset))
    want = reference_qa4re(dataset, masked(e), e.head, e.tail, f"{types[0]}:{types[1]}")
    got = build_question(qa, e, None if dataset == "semeval" else types)
    assert got.prompt == want
    assert got.prompt.endswith("]\n\nWhich option can be inferred from the given Sentence?\nOption:")
    assert len(got.options) == len(got.answers) == len(re.findall(r"^[A-Z]\. ", want, re.M))


def test_qa4re_retacred_identity_offers_one_option_per_template():
    e = ex("<e1>Kercher</e1> said <e2>she</e2> left .", "per:identity")
    q = build_question(qa_set_for("retacred"), e, ("PERSON", "PERSON"))
    assert q.options[:2] == ("per:identity", "per:identity") and q.answers == tuple("ABCDEFGH")
    assert "A. [Kercher] is the identity/pronoun of [she]\nB. [Kercher] and [she] are the same person\n" in q.prompt


VANILLA_GOLDEN = """Given a Sentence, and two Entities within the Sentence, classify the relationship between \
the two Entities based on the provided Sentence. All possible Relationships are listed below:
- per:city_of_birth
- per:city_of_death
- per:cities_of_residence
- no_relation

Sentence: Bill Gates was born in Seattle .
Entity 1: Bill Gates
Entity 2: Seattle
Relationship:"""


@pytest.mark.parametrize("dataset,text,label,types", CASES)
def test_qa4re_vanilla_prompts_equal_the_reference_layout(dataset, text, label, types):
    e = ex(text, label)
    qa = qa_set_for({"semeval": "semeval19"}.get(dataset, dataset))
    plain = re.sub(r"</?e[12]>", "", e.text)
    want = reference_vanilla(dataset, plain, e.head, e.tail, f"{types[0]}:{types[1]}")
    q = build_vanilla_question(qa, e, None if dataset == "semeval" else types)
    assert q.prompt == want and q.answers == q.options and q.options[-1] == qa.nota
    if label == "per:city_of_birth":
        assert q.prompt == VANILLA_GOLDEN


@pytest.mark.data
def test_qa4re_all_semeval_test_prompts_equal_the_reference_layout(data_dir):
    splits = load_splits(DataConfig(dataset="semeval", label_space="semeval19",
                                    data_dir=str(data_dir / "semeval2010_task8")))
    assert len(splits.test) == 2717
    for prompting, ref in (("qa4re", reference_qa4re), ("vanilla", reference_vanilla)):
        qs = build_questions(qa_set_for("semeval19"), splits.test, prompting=prompting)
        sent = masked if prompting == "qa4re" else (lambda e: re.sub(r"</?e[12]>", "", e.text))
        same = sum(q.prompt == ref("semeval", sent(e), e.head, e.tail, "MISC:MISC") for q, e in zip(qs, splits.test))
        assert same == 2717, f"{prompting}: {same} of 2717 SemEval test prompts equal the reference layout"
