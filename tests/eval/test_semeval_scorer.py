import re

import pytest

from harness.data.labels import SEMEVAL_19, SEMEVAL_RELATIONS, semeval_flip
from harness.eval.semeval import ScorerFileError, align_files, format_report, read_scorer_file, semeval_scores


def _read_full_test_file(path):
    """(ids, labels) from TEST_FILE_FULL.TXT: '<id>\\t"<sentence>"' then the label line."""
    lines = path.read_text().replace("\r", "").split("\n")
    ids, gold = [], []
    for i, line in enumerate(lines):
        m = re.match(r'^(\d+)\t"', line)
        if m:
            ids.append(int(m.group(1)))
            gold.append(lines[i + 1].strip())
    return ids, gold


@pytest.mark.data
def test_official_flip_every_fifth_id_is_79_59(data_dir):
    ids, gold = _read_full_test_file(data_dir / "semeval2010_task8" / "TEST_FILE_FULL.TXT")
    assert len(ids) == 2717 and all(g in SEMEVAL_19 for g in gold)
    pred = [semeval_flip(g) if i % 5 == 0 else g for i, g in zip(ids, gold)]
    s = semeval_scores(gold, pred)
    assert round(s["official"], 2) == 79.59
    assert s["official"] == s["official_perl"]  # all 9 relations occur in the key
    assert s["undirected"]["macro_f1"] == pytest.approx(100.0)  # direction-less view ignores the flips
    flipped = sum(1 for i, g in zip(ids, gold) if i % 5 == 0 and g != "Other")
    assert s["n_wrong_direction"] == flipped


@pytest.mark.data
def test_official_perfect_and_key_file_agree_with_full_file(data_dir):
    folder = data_dir / "semeval2010_task8"
    ids, gold = _read_full_test_file(folder / "TEST_FILE_FULL.TXT")
    key = read_scorer_file(folder / "TEST_FILE_KEY_DIRECTIONAL.TXT")
    assert [key[str(i)] for i in ids] == gold
    assert semeval_scores(gold, gold)["official"] == pytest.approx(100.0)


def test_official_hand_computed_direction_error():
    CE1, CE2, CW1 = "Cause-Effect(e1,e2)", "Cause-Effect(e2,e1)", "Component-Whole(e1,e2)"
    gold = [CE1, CE1, CE2, CW1, "Other", "Other"]
    pred = [CE1, CE2, CE2, "Other", CW1, CE1]
    s = semeval_scores(gold, pred)
    ce = s["directed"]["per_class"]["Cause-Effect"]
    # TP=2 (ex 0, 2); predictions of Cause-Effect any direction: ex 0,1,2,5 -> 4; gold Cause-Effect: 3
    assert (ce["tp"], ce["n_pred"], ce["n_gold"]) == (2, 4, 3)
    p, r = 50.0, 200 / 3
    assert ce["f1"] == pytest.approx(2 * p * r / (p + r))
    cw = s["directed"]["per_class"]["Component-Whole"]
    assert (cw["tp"], cw["n_pred"], cw["n_gold"]) == (0, 1, 1) and cw["f1"] == 0.0
    # absent relations: F1 0, averaged over all 9 (issue) vs over the 2 present in the key (Perl v1.2)
    assert s["official"] == pytest.approx(2 * p * r / (p + r) / 9)
    assert s["official_perl"] == pytest.approx(2 * p * r / (p + r) / 2)
    und = s["undirected"]["per_class"]["Cause-Effect"]  # direction ignored: TP 3 of 4 predicted, 3 gold
    assert und["f1"] == pytest.approx(2 * 75.0 * 100.0 / 175.0)
    w19 = s["way19"]["per_class"]
    assert (w19[CE1]["tp"], w19[CE1]["n_pred"], w19[CE1]["n_gold"]) == (1, 2, 2)
    assert (w19[CE2]["tp"], w19[CE2]["n_pred"], w19[CE2]["n_gold"]) == (1, 2, 1)  # ex 1 and 2
    assert s["accuracy_19"] == pytest.approx(100 * 2 / 6)
    assert s["n_wrong_direction"] == 1


def test_official_skipped_counts_in_recall_only():
    MT = "Message-Topic(e1,e2)"
    s = semeval_scores([MT, MT], [MT, None])
    mt = s["directed"]["per_class"]["Message-Topic"]
    assert (mt["p"], mt["r"]) == (100.0, 50.0) and s["n_skipped"] == 1
    assert s["official_perl"] == pytest.approx(200 / 3)


def test_official_all_other_and_bad_labels():
    s = semeval_scores(["Other", "Other"], ["Other", "Other"])
    assert s["official"] == 0.0 and s["accuracy_19"] == 100.0
    with pytest.raises(ValueError, match="not a SemEval"):
        semeval_scores(["Cause-Effect"], ["Other"])
    with pytest.raises(ValueError, match="gold has 1"):
        semeval_scores(["Other"], [])


def test_scorer_file_crlf_and_no_final_newline(tmp_path):
    f = tmp_path / "k.txt"
    f.write_bytes(b"1\tOther\r\n2\tCause-Effect(e1,e2)\r\n3\tMember-Collection(e2,e1)")
    assert read_scorer_file(f) == {"1": "Other", "2": "Cause-Effect(e1,e2)", "3": "Member-Collection(e2,e1)"}


@pytest.mark.parametrize("body, match", [
    ("1\tOther\n2\tOther\n1\tOther\n", r"k\.txt:3: id 1 is already defined \(first on line 1\)"),
    ("1\tOther\n2\tCause-Effect\n", r"k\.txt:2: unknown relation label 'Cause-Effect'"),
    ("1 Other\n", r"k\.txt:1: bad file format"),
    ("x\tOther\n", r"k\.txt:1: bad file format"),
    ("", r"empty file"),
])
def test_scorer_file_errors_name_file_and_line(tmp_path, body, match):
    f = tmp_path / "k.txt"
    f.write_text(body)
    with pytest.raises(ScorerFileError, match=match):
        read_scorer_file(f)


def test_align_rejects_unknown_id_and_skips_missing():
    key = {"1": "Other", "2": "Other"}
    with pytest.raises(ScorerFileError, match="not in the key file, first '3'"):
        align_files(key, {"3": "Other"}, "p.txt")
    ids, gold, pred = align_files(key, {"2": "Other"})
    assert ids == ["1", "2"] and pred == [None, "Other"]


def test_format_report_official_last():
    rel = SEMEVAL_RELATIONS[0] + "(e1,e2)"
    lines = format_report(semeval_scores([rel], [rel]))
    assert lines[-1].startswith("<<< The official score is") and lines[-1].endswith("= 100.00% >>>")
