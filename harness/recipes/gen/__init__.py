"""The gen recipe: its commands in commands.py (python -m harness gen --help)."""
