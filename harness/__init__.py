"""harness: importance-weighted (ATLANTIS) fine-tuning of LLMs for relation extraction.

Importing ``harness`` imports neither deepspeed nor triton (see tests/test_boundaries.py).
"""

__version__ = "0.1.0"
