"""``python -m harness <recipe> <command> [flags]``: the one command line (harness/cli.py; ``--help`` lists the
recipes and their commands)."""

from harness.cli import main, run_main

if __name__ == "__main__":
    raise SystemExit(run_main(main))
