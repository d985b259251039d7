"""Document-level relation extraction (LMRC on DocRED / Re-DocRED): documents, candidate pairs, the relation
candidate proposal classifier, the LLM stage, output parsing and the official DocRED evaluation.

The recipe's commands are in commands.py (python -m harness docre --help).
"""
