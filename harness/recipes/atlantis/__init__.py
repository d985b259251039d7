"""The atlantis recipe: its commands in commands.py (python -m harness atlantis --help)."""
