"""The recipes: one package per task, each with its commands (``commands.py``: a ``COMMANDS`` list of
``harness.cli.Command``), reached by ``python -m harness <recipe> <command>`` (harness/cli.py).

Importing a recipe's commands module is cheap (argparse declarations; the bodies import the heavy code when they
run), so ``python -m harness --help`` lists every recipe and command without loading torch.
"""

from __future__ import annotations

import importlib

# name -> (what it does, its commands module)
RECIPES: dict[str, tuple[str, str]] = {
    "atlantis": ("importance-weighted fine-tuning (ATLANTIS) vs SFT: score, train, evaluate, the whole experiment",
                 "harness.recipes.atlantis.commands"),
    "qa4re": ("zero-shot relation extraction as multiple-choice QA (QA4RE): evaluate, weak labels",
              "harness.recipes.qa4re.commands"),
    "gen": ("generated training samples: generate, preference pairs, diversity metrics", "harness.recipes.gen.commands"),
    "dpo": ("DPO / IPO fine-tuning of the generator on preference pairs", "harness.recipes.dpo.commands"),
    "docre": ("document-level RE (LMRC on DocRED / Re-DocRED): RCP candidates, the LLM stage, official scores",
              "harness.recipes.docre.commands"),
    "tables": ("the seed papers' tables, one command per row: list, run (beside the papers' figures), --smoke",
               "harness.recipes.tables.commands"),
}


def commands(recipe: str) -> list:
    """The recipe's ``harness.cli.Command`` list, in the order its help shows them."""
    return importlib.import_module(RECIPES[recipe][1]).COMMANDS
