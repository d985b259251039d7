"""LLM-generated training samples for relation extraction (Li, Dai, Li, ACL 2025, arXiv 2505.23108): prompts with
three modules, batch and one-by-one in-context generation, parsing and validation, diversity metrics, and the
preference pairs the DPO stage trains on. Commands: python -m harness gen generate | pairs | metrics.

The recipe's commands are in commands.py (python -m harness gen --help).
"""
