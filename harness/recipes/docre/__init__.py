"""The docre recipe: its commands in commands.py (python -m harness docre --help)."""
