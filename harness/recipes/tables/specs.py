"""The seed papers' tables as data: each row's paper figures, the recipe it runs (``kind``), its settings, the
checkpoint roles and the data files it needs. Nothing here runs anything; ``harness.recipes.tables.plan`` turns a
row into command lines, ``harness.recipes.tables.measure`` reads its figures back.

Checkpoint roles are model names (``--ckpt qwen2-7b=/ckpt/Qwen2-7B``), so one ``--ckpt`` serves every row that
uses that model; ``--smoke`` replaces each role by the tiny preset in ``ROLES``. Data files are relative to the
data folder (``--data-dir``, default ``$HARNESS_DATA_DIR``), in the layout of ``DATA``.

Figures are as printed in the papers: ATLANTIS macro-F1 as fractions (0.849), QA4RE and LMRC as percentages;
``None`` = the paper (or the seed's copy of it) gives no figure for that cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class Role:
    name: str  # the --ckpt name
    what: str  # the checkpoint, in words
    smoke: str  # the preset --smoke runs instead


@dataclass(frozen=True)
class Row:
    id: str  # unique within its table: <table>/<id> names it on the command line
    label: str  # the paper's row label
    kind: str  # atlantis | qa4re | docre | gen: which recipe runs it (harness.recipes.tables.plan)
    paper: tuple  # one figure per table column (None: not given)
    opts: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))  # the kind's settings


@dataclass(frozen=True)
class Table:
    id: str
    title: str
    source: str  # paper and table number
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    note: str = ""  # what differs from the paper's setting, or what the paper leaves open


def row(id: str, label: str, kind: str, paper: tuple, **opts) -> Row:
    return Row(id, label, kind, tuple(paper), MappingProxyType(opts))


ROLES = {r.name: r for r in (
    Role("flan-t5-small", "google/flan-t5-small (77M): ATLANTIS p_S and, instruction-tuned, p_ref", "tiny-t5"),
    Role("flan-t5-base", "google/flan-t5-base (220M): ATLANTIS p_L", "tiny-t5"),
    Role("flan-t5-xxl", "google/flan-t5-xxl (11B): QA4RE's zero-shot model", "tiny-t5"),
    Role("qwen2-0.5b", "Qwen/Qwen2-0.5B (base)", "tiny-qwen2-small"),
    Role("qwen2-0.5b-instruct", "Qwen/Qwen2-0.5B-Instruct: p_ref of the 0.5B/1.5B pair", "tiny-qwen2-small"),
    Role("qwen2-1.5b", "Qwen/Qwen2-1.5B (base)", "tiny-qwen2"),
    Role("qwen2-1.5b-instruct", "Qwen/Qwen2-1.5B-Instruct: p_ref of the 1.5B/7B pair", "tiny-qwen2-small"),
    Role("qwen2-7b", "Qwen/Qwen2-7B (base)", "tiny-qwen2"),
    Role("llama2-7b-chat", "meta-llama/Llama-2-7b-chat-hf", "tiny-qwen2"),
    Role("llama2-13b-chat", "meta-llama/Llama-2-13b-chat-hf", "tiny-qwen2"),
    Role("roberta-large", "roberta-large: LMRC's RCP encoder", "tiny-roberta"),
    Role("generator", "the generator LLM of seed 002 (the seed names none; causal, local)", "tiny-qwen2"),
    Role("re-model", "the RE model trained on generated samples (the seed names none; causal or seq2seq)",
         "tiny-qwen2"),
)}

# dataset -> files (relative to the data folder) the rows on it read
DATA = {
    "semeval": ("semeval2010_task8/TRAIN_FILE.TXT", "semeval2010_task8/TEST_FILE_FULL.TXT"),
    "conll04": tuple(f"conll04/conll04_{s}.json" for s in ("train", "dev", "test")),
    **{name: tuple(f"{name}/{s}.json" for s in ("train", "dev", "test")) for name in ("tacred", "tacrev", "retacred")},
    "docred": ("docred/train_annotated.json", "docred/dev.json", "docred/test.json", "docred/rel_info.json"),
    "redocred": ("redocred/train_revised.json", "redocred/dev_revised.json", "redocred/test_revised.json",
                 "docred/rel_info.json"),
}
DATA_DIRS = {"semeval": "semeval2010_task8", "conll04": "conll04", "tacred": "tacred", "tacrev": "tacrev",
             "retacred": "retacred"}
# DocRE corpora: (training file, dev file, test file) under the data folder
DOCRE = {"docred": ("docred/train_annotated.json", "docred/dev.json", "docred/test.json"),
         "redocred": ("redocred/train_revised.json", "redocred/dev_revised.json", "redocred/test_revised.json")}

# ---- ATLANTIS report (seeds 000/001), section 5.3: full fine-tuning ------------------------------------------------
FLAN_T5 = dict(large="flan-t5-base", small="flan-t5-small", reference="flan-t5-small", epochs=8, lr=3e-4,
               micro_batch=32, batch=32)
QWEN2_SMALL_PAIR = dict(large="qwen2-1.5b", small="qwen2-0.5b", reference="qwen2-0.5b-instruct", epochs=3, lr=2e-5,
                        micro_batch=8, batch=16)  # batch 8 x gradient accumulation 2
QWEN2_LARGE_PAIR = dict(large="qwen2-7b", small="qwen2-1.5b", reference="qwen2-1.5b-instruct", epochs=3, lr=2e-5,
                        micro_batch=1, batch=16)  # batch 1 x gradient accumulation 16
SEMEVAL = dict(dataset="semeval", label_space="semeval10")  # 19 classes direction-collapsed to 10
ATLANTIS_NOTE = ("one experiment per row (atlantis experiment: the reference given, scores, SFT and ATLANTIS, eval on "
                 "test); global batch = micro-batch x grad_accum x --nproc is held at the paper's; eval by greedy "
                 "generation of the label (the report: 'the model generates the relation label as text'); warm-up, "
                 "schedule and weight clipping are not stated: the harness defaults (3% warm-up, cosine, clip [0.1, 5])")

ATLANTIS_T1 = Table("atlantis-t1", "Macro-F1 on SemEval-2010 Task 8 (gold labels)", "ATLANTIS report, Table 1",
                    ("SFT", "ATLANTIS"), (
    row("flan-t5", "Flan-T5 (base; p_S small)", "atlantis", (0.849, 0.854), **SEMEVAL, **FLAN_T5),
    row("qwen2-1.5b", "Qwen2-1.5B (p_S 0.5B)", "atlantis", (0.850, 0.853), **SEMEVAL, **QWEN2_SMALL_PAIR),
    row("qwen2-7b", "Qwen2-7B (p_S 1.5B)", "atlantis", (0.885, 0.877), **SEMEVAL, **QWEN2_LARGE_PAIR),
), ATLANTIS_NOTE)
ATLANTIS_T2 = Table("atlantis-t2", "Macro-F1 on CoNLL2004", "ATLANTIS report, Table 2", ("SFT", "ATLANTIS"), (
    row("qwen2-1.5b", "Qwen2-1.5B (p_S 0.5B)", "atlantis", (0.947, 0.966), dataset="conll04", label_space="conll04",
        **QWEN2_SMALL_PAIR),
    row("qwen2-7b", "Qwen2-7B (p_S 1.5B)", "atlantis", (0.982, 0.982), dataset="conll04", label_space="conll04",
        **QWEN2_LARGE_PAIR),
), ATLANTIS_NOTE + "; CoNLL04: annotated pairs only (conll04_mode gold-pairs, 5 relations)")
ATLANTIS_T3 = Table("atlantis-t3", "Macro-F1 on SemEval-2010 Task 8 with weak labels (20% noise)",
                    "ATLANTIS report, Table 3", ("SFT (uniform)", "ATLANTIS"), (
    row("qwen2-1.5b-noise20", "Qwen2-1.5B, 20% label noise", "atlantis", (0.809, 0.824), noise=0.2, **SEMEVAL,
        **QWEN2_SMALL_PAIR),
), ATLANTIS_NOTE + "; noise: 20% of training labels replaced uniformly at random (the summary page's 'random label "
   "substitution'; the report also says the weak labels came from Qwen2-1.5B, without the procedure)")

# ---- QA4RE (seed 003): FLAN-T5-XXL zero-shot, the reference code's test subsets ------------------------------------
QA4RE = Table("qa4re", "Zero-shot RE, FLAN-T5-XXL (F1, no-relation excluded)", "QA4RE, main results (seed 003)",
              ("F1",), (
    row("tacred", "QA4RE, TACRED", "qa4re", (52.2,), data="tacred", prompting="qa4re"),
    row("tacrev", "QA4RE, TACREV", "qa4re", (53.4,), data="tacrev", prompting="qa4re"),
    row("retacred", "QA4RE, Re-TACRED", "qa4re", (66.5,), data="retacred", prompting="qa4re"),
    row("semeval", "QA4RE, SemEval", "qa4re", (43.5,), data="semeval", prompting="qa4re"),
    row("tacred-vanilla", "vanilla RE prompting, TACRED", "qa4re", (None,), data="tacred", prompting="vanilla"),
    row("tacrev-vanilla", "vanilla RE prompting, TACREV", "qa4re", (None,), data="tacrev", prompting="vanilla"),
    row("retacred-vanilla", "vanilla RE prompting, Re-TACRED", "qa4re", (None,), data="retacred", prompting="vanilla"),
    row("semeval-vanilla", "vanilla RE prompting, SemEval", "qa4re", (None,), data="semeval", prompting="vanilla"),
), "qa4re eval --subset reference (the reference code's 1,000 test examples) on the test split, each prompting's "
   "default scoring (qa4re first-token, vanilla greedy); SemEval on its 19 directional labels; the seed (an abstract page) gives the QA4RE figures only, the vanilla baseline's are not in it")

# ---- LMRC (seed 004), appendix A Tables 6-7 ------------------------------------------------------------------------
# method: lora-ft (Table 11's prompt, all pairs, Table 7 "Pre"), lmrc (RCP -> Table 12's prompt, Table 7 "RC
# stage"), rc-gold (Table 12's prompt over the gold related pairs), binary (Table 5: an LLM pre-classifier instead
# of RCP); the settings are the docre recipe's paper configs (harness.recipes.tables.plan.DOCRE_CONFIGS)
def lora_ft(id: str, label: str, llm: str, corpus: str, paper: tuple, splits: tuple, cols: tuple) -> Row:
    return row(id, label, "docre", paper, llm=llm, corpus=corpus, splits=splits, cols=cols, method="lora-ft")


def lmrc(id: str, label: str, llm: str, corpus: str, paper: tuple, splits: tuple, cols: tuple) -> Row:
    return row(id, label, "docre", paper, llm=llm, corpus=corpus, splits=splits, cols=cols, method="lmrc")


LMRC_NOTE = ("settings: the docre recipe's examples/lmrc_<corpus>_{loraft,paper}.json; LLM: LoRA r 8 / alpha 16, "
             "lr 1e-4, batch 4 (micro-batch 4/--nproc), 2 epochs and 200 warm-up steps (preliminary / LoRA FT) or 8 epochs and 100 (RC stage); RCP: roberta-large, batch 4, "
             "30 epochs, lr 3e-5 encoder / 1e-4 classifier, grad norm 1.0, linear warm-up 6%, threshold fixed 0.5")
T2_COLS = ("precision", "recall", "f1", "ign_f1", "triples")
LMRC_T2 = Table("lmrc-t2", "Preliminary experiment: LoRA FT LLaMA2-13B-Chat, all pairs with None",
                "LMRC, Table 2", ("P", "R", "F1", "Ign F1", "# triples"), (
    lora_ft("docred-dev", "DocRED dev", "llama2-13b-chat", "docred", (69.00, 27.43, 39.25, 38.62, 4925), ("dev",),
            T2_COLS),
    lora_ft("docred-test", "DocRED test", "llama2-13b-chat", "docred", (None, None, 38.66, 38.09, 4932), ("test",),
            T2_COLS),
    lora_ft("redocred-dev", "Re-DocRED dev", "llama2-13b-chat", "redocred", (84.88, 38.06, 52.56, 52.29, 7787),
            ("dev",), T2_COLS),
    lora_ft("redocred-test", "Re-DocRED test", "llama2-13b-chat", "redocred", (83.94, 38.14, 52.45, 52.15, 7979),
            ("test",), T2_COLS),
), LMRC_NOTE + "; DocRED's public test.json has no labels (the paper's test figures are CodaLab's): give a labelled "
   "copy")
T3_COLS = ("dev:ign_f1", "dev:f1", "test:ign_f1", "test:f1")
LMRC_T3A = Table("lmrc-t3a", "DocRED dev and test", "LMRC, Table 3a", ("dev Ign F1", "dev F1", "test Ign F1",
                                                                        "test F1"), (
    lora_ft("lora-ft-7b", "LoRA FT LLaMA2-7B-Chat", "llama2-7b-chat", "docred", (33.95, 34.32, 33.99, 34.34),
            ("dev", "test"), T3_COLS),
    lora_ft("lora-ft-13b", "LoRA FT LLaMA2-13B-Chat", "llama2-13b-chat", "docred", (38.62, 39.25, 38.09, 38.66),
            ("dev", "test"), T3_COLS),
    lmrc("lmrc-7b", "LMRC-LLaMA2-7B-Chat", "llama2-7b-chat", "docred", (52.40, 54.10, 52.81, 54.73), ("dev", "test"),
         T3_COLS),
    lmrc("lmrc-13b", "LMRC-LLaMA2-13B-Chat", "llama2-13b-chat", "docred", (58.16, 59.97, 58.49, 60.52),
         ("dev", "test"), T3_COLS),
), LMRC_NOTE + "; DocRED's public test.json has no labels (the paper's test figures are CodaLab's): give a labelled "
   "copy")
LMRC_T3B = Table("lmrc-t3b", "Re-DocRED test", "LMRC, Table 3b", ("Ign F1", "F1"), (
    lora_ft("lora-ft-13b", "LoRA FT LLaMA2-13B-Chat", "llama2-13b-chat", "redocred", (52.15, 52.45), ("test",),
            ("ign_f1", "f1")),
    lmrc("lmrc-13b", "LMRC-LLaMA2-13B-Chat", "llama2-13b-chat", "redocred", (74.08, 74.63), ("test",),
         ("ign_f1", "f1")),
), LMRC_NOTE + "; Ign F1 from Re-DocRED's own training facts (train_revised.json)")
LMRC_T4 = Table("lmrc-t4", "Intra- and inter-sentence F1, DocRED dev", "LMRC, Table 4", ("Intra F1", "Inter F1"), (
    lora_ft("lora-ft-13b", "LoRA FT LLaMA2-13B-Chat", "llama2-13b-chat", "docred", (45.43, 31.67), ("dev",),
            ("intra_f1", "inter_f1")),
    lmrc("lmrc-13b", "LMRC (LLaMA2-13B-Chat)", "llama2-13b-chat", "docred", (65.88, 52.66), ("dev",),
         ("intra_f1", "inter_f1")),
), LMRC_NOTE)
LMRC_T5 = Table("lmrc-t5", "Ablations, DocRED dev", "LMRC, Table 5", ("F1 of RCP", "Ign F1", "F1"), (
    lmrc("lmrc", "LMRC", "llama2-13b-chat", "docred", (64.64, 58.16, 59.97), ("dev",), ("rcp_f1", "ign_f1", "f1")),
    row("no-rcp-llm", "w/o pre-classifier w LLM", "docre", (31.30, 23.22, 24.59), llm="llama2-13b-chat",
        corpus="docred", splits=("dev",), cols=("rcp_f1", "ign_f1", "f1"), method="binary"),
    row("rc-gold", "RC stage: relation classification (gold pairs)", "docre", (None, 86.09, 86.75),
        llm="llama2-13b-chat", corpus="docred", splits=("dev",), cols=("rcp_f1", "ign_f1", "f1"), method="rc-gold"),
), LMRC_NOTE + "; the LLM pre-classifier (prompts.style=binary, examples/lmrc_docred_llm_preclassifier.json) has no "
   "paper prompt or settings: the reference code's step-1 prompt, Table 7's 'Pre' settings")
# ---- generation (seed 002): the seed states methods and datasets, no figures ---------------------------------------
GEN_COLS = ("accepted", "distinct_2", "self_bleu", "macro_f1")


def gen_row(id: str, label: str, data: str, mode: str, dpo: bool = False) -> Row:
    return row(id, label, "gen", (None,) * len(GEN_COLS), data=data, mode=mode, dpo=dpo)


GEN = Table("gen", "Generated training samples: diversity and an RE model trained on them",
            "Li, Dai and Li (ACL 2025), seed 002", ("accepted", "distinct-2", "self-BLEU", "RE macro-F1"), (
    gen_row("semeval-direct", "SemEval, direct prompting (batch)", "semeval", "batch"),
    gen_row("semeval-icl", "SemEval, ICL one-by-one (dissimilar)", "semeval", "one-by-one"),
    gen_row("semeval-dpo", "SemEval, DPO-tuned generator, one-by-one", "semeval", "one-by-one", dpo=True),
    gen_row("tacred-direct", "TACRED, direct prompting (batch)", "tacred", "batch"),
    gen_row("tacred-icl", "TACRED, ICL one-by-one (dissimilar)", "tacred", "one-by-one"),
    gen_row("tacred-dpo", "TACRED, DPO-tuned generator, one-by-one", "tacred", "one-by-one", dpo=True),
), "the seed (a summary) gives no figures, generator, sample counts or RE model: gen.* defaults (one-by-one: one "
   "candidate per step, gen.candidates_per_step=1), the generator and RE model by --ckpt; the RE model is plain SFT "
   "(atlantis train) on the accepted samples, evaluated on the real test split; DPO's preference pairs come from a "
   "one-by-one run drawing 2 candidates per step (the pair rule needs two; the seed states no number)")

TABLES = {t.id: t for t in (ATLANTIS_T1, ATLANTIS_T2, ATLANTIS_T3, QA4RE, LMRC_T2, LMRC_T3A, LMRC_T3B, LMRC_T4,
                            LMRC_T5, GEN)}


def select(spec: str) -> list[tuple[Table, Row]]:
    """``all``, ``<table>`` or ``<table>/<row>`` -> the (table, row) pairs, in table order. ValueError naming the
    known tables / rows otherwise."""
    name, _, rid = spec.partition("/")
    if name == "all" and not rid:
        return [(t, r) for t in TABLES.values() for r in t.rows]
    if name not in TABLES:
        raise ValueError(f"no table {name!r}; known: all, {', '.join(TABLES)} (python -m harness tables list)")
    table = TABLES[name]
    rows = [r for r in table.rows if not rid or r.id == rid]
    if not rows:
        raise ValueError(f"table {name} has no row {rid!r}; its rows: {', '.join(r.id for r in table.rows)}")
    return [(table, r) for r in rows]
