"""Dataset files -> examples -> prompts -> token ids (no model, no distributed code).

Entry point: ``harness.data.dataset.load_splits(DataConfig) -> Splits``.
"""
