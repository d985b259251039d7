"""Causal (Qwen2) and seq2seq (Flan-T5) models and tokenizers: local checkpoints or tiny test configs."""
