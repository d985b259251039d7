"""The prompt styles against their sources: lmrc = LMRC Table 12, extract = Table 11 (the LoRA FT LLM baseline, None
over all pairs), binary = the reference code's step-1 prompt (Table 5's LLM pre-classifier); the binary answer
reader, candidates and detection figures by hand; the styles through the stage (pairs asked, candidates defaults,
a one-line refusal of an unknown style)."""

from collections import Counter
from pathlib import Path

import pytest
from support import load_launch

from harness.cli import run_main
from harness.config import load_config
from harness.recipes.docre import binary
from harness.recipes.docre.config import DocREConfig
from harness.recipes.docre.prompts import EXTRACT_INSTRUCTION, HEADER, INSTRUCTION, Prompt, doc_prompts
from harness.recipes.docre.reader import read_docred
from harness.recipes.docre.stage import candidates_spec, eval_prompts, load_inputs, training_prompts

FIX = Path(__file__).parent / "fixtures"
DOCS = read_docred(FIX / "docs.json")
REL = {"P17": "country", "P19": "place of birth", "P36": "capital", "P108": "employer", "P463": "member of"}

# The seed paper's appendix E as printed (shared/seeds/004: Tables 11 and 12), one paragraph per line of the
# instruction; the header is the first paragraph of both tables.
PAPER_HEADER = ("Below is an instruction that describes a task, paired with an input that provides further context. "
                "Write a response that appropriately completes the request.")
TABLE_11 = ["Your task is to determine whether there are relations between the entity pairs based on the information "
            "in the text. If there exists relations, select relations for the entity pairs from the relation set; if "
            "there is no relation, return None.",
            "The format of the input entity pair is '(head entity| -| tail entity)'.",
            "Your output format is '(head entity| relation/None| tail entity)'."]
TABLE_12 = ["This is a relation classification task. we will provide entity pairs that require relation "
            "classification. Your task is to select relations for each entity pair from the given relation set based "
            "on the information in the text. There may be multiple relations between an entity pair.",
            "The format of the input entity pair is '(head entity| -| tail entity)'.",
            "Your output format is '(head entity| relation| tail entity)'."]
# wisper12933/LMRC @ 7467efdb44915f38108e4ce35e5f7d4d3ec563be, convert_docred_to_llm.py, PROMPT_DICT
# ["step1_instruction_ft"] (the concatenated Python literal, curly quotes U+2019 and the trailing space included)
STEP1 = ("We will provide the text and several entity pairs in the text. You need to determine whether these entity "
         "pairs express relations based on the text. The format of input entity pairs is ’(head entity | tail "
         "entity)’. Return \"Yes\" if you believe the entity pair expresses relations, otherwise return \"No\". The "
         "number of \"Yes\" and \"No\" should be the same as the number of input entity pairs. ")
# its RC/templates/alpaca.json "prompt_input", and PROMPT_DICT["input"]
ALPACA = ("Below is an instruction that describes a task, paired with an input that provides further context. Write a "
          "response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n{input}\n\n"
          "### Response:\n")
INPUT = "### Text:\n{text}\n\n### {e_num} Entity pairs:\n{e_pairs}"
REL_SET = "['country', 'place of birth', 'capital', 'employer', 'member of']"
MARA_TEXT = "Mara Quill was born in Tallinford . Quill joined Harrow Press in 1985 ."


def test_instructions_are_the_papers_text():
    assert HEADER == PAPER_HEADER
    table_11, table_12 = "\n".join(TABLE_11), "\n".join(TABLE_12)
    assert table_12 == INSTRUCTION and table_11 == EXTRACT_INSTRUCTION
    assert binary.INSTRUCTION == STEP1


def test_extract_prompt_golden_string_and_none_answers():
    (p,) = doc_prompts(DOCS[0], 0, [(0, 1), (1, 0), (0, 2)], REL, pairs_per_prompt=3, with_answer=True,
                       style="extract")
    assert p.text == (
        f"{PAPER_HEADER}\n\n### Instruction:\n" + "\n".join(TABLE_11) + f"\n\n### Relation set:\n{REL_SET}\n\n"
        f"### Text:\n{MARA_TEXT}\n\n### 3 Entity pairs:\n(Mara Quill| -| Tallinford)\n(Tallinford| -| Mara Quill)\n"
        "(Mara Quill| -| Harrow Press)\n\n### Response:\n")
    # pairs in the prompt's order, a related pair's relations in the file's order, None for an unrelated pair
    assert p.answer == ("(Mara Quill| place of birth| Tallinford)\n(Tallinford| None| Mara Quill)\n"
                        "(Mara Quill| employer| Harrow Press)\n(Mara Quill| member of| Harrow Press)")
    (rc,) = doc_prompts(DOCS[0], 0, [(0, 1), (1, 0)], REL, pairs_per_prompt=0, with_answer=True)
    assert rc.answer == "(Mara Quill| place of birth| Tallinford)"  # lmrc: no None lines
    assert rc.text == p.text.replace("\n".join(TABLE_11), "\n".join(TABLE_12)).replace(
        "### 3 Entity pairs:", "### 2 Entity pairs:").replace("\n(Mara Quill| -| Harrow Press)", "")


def test_binary_prompt_equals_the_reference_layout():
    ps = doc_prompts(DOCS[0], 0, [(0, 1), (1, 0), (0, 2)], REL, pairs_per_prompt=2, with_answer=True, style="binary")
    assert [len(p.pairs) for p in ps] == [2, 1]
    pairs = "1.(Mara Quill | Tallinford)\n2.(Tallinford | Mara Quill)"  # numbered from 1 in every prompt
    assert ps[0].text == ALPACA.format(instruction=STEP1, input=INPUT.format(text=MARA_TEXT, e_num=2, e_pairs=pairs))
    assert ps[0].answer == "1.Yes\n2.No" and ps[1].answer == "1.Yes"
    assert ps[1].text.endswith("### 1 Entity pairs:\n1.(Mara Quill | Harrow Press)\n\n### Response:\n")


def test_binary_answers_read_by_hand():
    dropped = Counter()
    text = "1.Yes\n2. no\n 3 . YES please\n3.No\n7.Yes\nmaybe\n\n"
    assert binary.read_answer(text, 4, dropped) == [0, 2]  # pair 3's first answer counts; pair 4 never answered
    assert dropped == Counter(duplicate=1, out_of_range=1, malformed=1, missing=1)


def test_binary_candidates_and_detection_by_hand():
    prompts = [Prompt("0:0", "Mara Quill", 0, 0, ((0, 1), (1, 0)), "", None),
               Prompt("0:1", "Mara Quill", 0, 1, ((0, 2), (2, 0)), "", None),
               Prompt("1:0", "Norland", 1, 0, ((1, 0), (0, 2)), "", None)]
    rows, dropped = binary.candidates(prompts, ["1.Yes\n2.Yes", "2.Yes\n1.No", "1.No"], DOCS)
    assert rows == [{"title": "Mara Quill", "pairs": [[0, 1], [1, 0], [2, 0]], "scores": [1.0, 1.0, 1.0]},
                    {"title": "Norland", "pairs": [], "scores": []},
                    {"title": "Empty", "pairs": [], "scores": []}]
    assert dropped == {"malformed": 0, "out_of_range": 0, "duplicate": 0, "missing": 1}
    # gold related pairs: Mara (0,1), (0,2); Norland (0,1), (1,0): 4. Proposed 3, correct 1 (Mara 0->1)
    d = binary.detection(rows, DOCS)
    assert (d["proposed"], d["correct"], d["gold"]) == (3, 1, 4)
    assert d["precision"] == pytest.approx(1 / 3) and d["recall"] == 0.25 and d["f1"] == pytest.approx(2 / 7)


def _cfg(*sets):
    fx = [f"data.train_file={FIX / 'docs.json'}", f"data.eval_file={FIX / 'docs.json'}",
          f"data.rel_info={FIX / 'rel_info.json'}"]
    return load_config(None, [*fx, *sets], cls=DocREConfig)


def test_styles_through_the_stage():
    lmrc, extract = _cfg(), _cfg("prompts.style=extract")
    inputs = load_inputs(lmrc)
    assert (candidates_spec(lmrc), candidates_spec(extract), candidates_spec(extract, "gold")) == ("gold", "all", "gold")
    assert [len(p.pairs) for p in training_prompts(lmrc, inputs)] == [2, 2]  # gold related pairs only
    assert [len(p.pairs) for p in training_prompts(extract, inputs)] == [12, 6]  # every ordered pair
    assert [len(p.pairs) for p in eval_prompts(extract, inputs)] == [12, 6]  # candidates default: all
    assert [len(p.pairs) for p in eval_prompts(_cfg("prompts.style=binary", "prompts.pairs_per_prompt=5"), inputs)] \
        == [5, 5, 2, 5, 1]
    assert sum(p.answer.count("| None|") for p in training_prompts(extract, inputs)) == 12 + 6 - 4


def test_candidates_rcp_name_without_a_name_is_refused():
    with pytest.raises(ValueError, match="rcp:<name>"):
        candidates_spec(_cfg("prompts.candidates=rcp:"))


def test_unknown_style_is_a_one_line_error(capsys):
    argv = ["prompts", "--set", "prompts.style=full", "--set", f"data.train_file={FIX / 'docs.json'}",
            "--set", f"data.eval_file={FIX / 'docs.json'}", "--set", f"data.rel_info={FIX / 'rel_info.json'}"]
    assert run_main(load_launch("docre").main, argv) == 2
    err = capsys.readouterr().err
    assert "prompts.style must be one of lmrc | extract | binary, got 'full'" in err and len(err.strip().splitlines()) == 1
