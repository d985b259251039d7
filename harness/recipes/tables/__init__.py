"""The seed papers' tables as recipes: specs (rows as data), plan (row -> command lines), runner (run, measure,
report), commands (``python -m harness tables list | run``)."""
