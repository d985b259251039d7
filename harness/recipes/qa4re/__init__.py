"""The qa4re recipe: its commands in commands.py (python -m harness qa4re --help)."""
