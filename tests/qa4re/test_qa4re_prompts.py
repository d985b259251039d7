import pytest

from harness.data.examples import Example
from harness.data.labels import SEMEVAL_19
from harness.data.markers import parse_marked
from harness.recipes.qa4re.prompts import QA_SETS, build_question, letters, options_for, qa_set_for


def ex(text, label, ex_id="1"):
    head, tail, hs, ts = parse_marked(text)
    return Example(ex_id, text, head, tail, hs, ts, label, "test")


SEMEVAL_GOLDEN = """Determine which option can be inferred from the given Sentence.

Sentence: The [storm] caused the [flood].
Options:
A. [storm] is the component of [flood]
B. [flood] is the component of [storm]
C. [storm] is the instrument of [flood]
D. [flood] is the instrument of [storm]
E. [storm] is the member of [flood]
F. [flood] is the member of [storm]
G. [storm] has the effect [flood]
H. [flood] has the effect [storm]
I. [flood] is the destination of [storm]
J. [storm] is the destination of [flood]
K. [flood] contains [storm]
L. [storm] contains [flood]
M. [flood] is the topic of [storm]
N. [storm] is the topic of [flood]
O. [flood] produces [storm]
P. [storm] produces [flood]
Q. [storm] origins from [flood]
R. [flood] origins from [storm]
S. [storm] has no known relations to [flood]

Which option can be inferred from the given Sentence?
Option:"""


def test_qa4re_prompt_semeval_golden():
    q = build_question(qa_set_for("semeval19"), ex("The <e1>storm</e1> caused the <e2>flood</e2>.",
                                                  "Cause-Effect(e1,e2)"))
    assert q.prompt == SEMEVAL_GOLDEN
    assert len(q.options) == 19 and set(q.options) == set(SEMEVAL_19) and q.options[-1] == "Other"
    assert q.options[6] == "Cause-Effect(e1,e2)"  # G. [storm] has the effect [flood]


CONLL04_GOLDEN = """Determine which option can be inferred from the given Sentence.

Sentence: [Smith] joined [Acme Corp] in 1990.
Options:
A. [Smith] works for [Acme Corp]
B. [Smith] has no known relations to [Acme Corp]

Which option can be inferred from the given Sentence?
Option:"""


def test_qa4re_prompt_conll04_golden_with_and_without_type_constraints():
    qa = qa_set_for("conll04")
    e = ex("<e1>Smith</e1> joined <e2>Acme Corp</e2> in 1990.", "Work_For")
    assert build_question(qa, e, ("Peop", "Org")).prompt == CONLL04_GOLDEN
    free = build_question(qa, e)
    assert free.options == ("Kill", "Live_In", "Located_In", "OrgBased_In", "Work_For", "No_Relation")
    assert "E. [Smith] works for [Acme Corp]\nF. [Smith] has no known relations to [Acme Corp]\n" in free.prompt
    assert qa_set_for("conll04_all") is qa


TACRED_GOLDEN = """Determine which option can be inferred from the given Sentence.

Sentence: [Bill Gates] was born in [Seattle] .
Options:
A. [Bill Gates] was born in the city [Seattle]
B. [Bill Gates] died in the city [Seattle]
C. [Bill Gates] lives in the city [Seattle]
D. [Bill Gates] has no known relations to [Seattle]

Which option can be inferred from the given Sentence?
Option:"""


def test_qa4re_prompt_tacred_format_golden():
    q = build_question(qa_set_for("tacred"), ex("<e1>Bill Gates</e1> was born in <e2>Seattle</e2> .",
                                                "per:city_of_birth"), ("PERSON", "CITY"))
    assert q.prompt == TACRED_GOLDEN
    assert q.options == ("per:city_of_birth", "per:city_of_death", "per:cities_of_residence", "no_relation")


def test_qa4re_options_shuffle_is_seeded_per_example():
    qa = qa_set_for("semeval19")
    a, b = ex("The <e1>a</e1> b <e2>c</e2>.", "Other", "7"), ex("The <e1>a</e1> b <e2>c</e2>.", "Other", "8")
    s1, s2 = options_for(qa, a, shuffle_seed=3), options_for(qa, a, shuffle_seed=3)
    assert s1 == s2 and sorted(s1) == sorted(options_for(qa, a)) and s1 != options_for(qa, a)
    assert options_for(qa, b, shuffle_seed=3) != s1 and options_for(qa, a, shuffle_seed=4) != s1


def test_qa4re_sets_cover_their_label_spaces_and_refuse_the_rest():
    for qa in QA_SETS.values():
        assert qa.nota in qa.templates and qa.nota not in qa.order
        assert set(qa.order) | {qa.nota} == set(qa.templates)
        assert all("{subj}" in t and "{obj}" in t for ts in qa.templates.values() for t in ts)
    with pytest.raises(ValueError, match="semeval19"):
        qa_set_for("semeval10")
    odd = build_question(qa_set_for("tacred"), ex("<e1>a</e1> <e2>b</e2>", "no_relation"), ("PLANET", "CITY"))
    assert odd.options == ("no_relation",)  # no relation allows the type pair: NoTA only
    with pytest.raises(ValueError, match="26"):
        letters(27)
