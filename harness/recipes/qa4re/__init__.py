"""QA4RE (Zhang, Jiménez Gutiérrez, Su, ACL Findings 2023): zero-shot relation extraction as multiple-choice QA.

    template_data.py  relation verbalisations (sources noted there)
    prompts.py        the question of an example: options (type constraints, NoTA last, optional shuffle), prompt
    score.py          option scores through the label-row machinery (first-token / sequence), sharded over ranks
    metrics.py        closed-set micro P/R/F1 (NoTA excluded), accuracy, SemEval official when 19-way
    stage.py          the eval and label stages behind `qa4re eval | label`

The recipe's commands are in commands.py (python -m harness qa4re --help).
"""
