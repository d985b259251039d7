"""The dpo recipe: its commands in commands.py (python -m harness dpo --help)."""
