"""Evaluation: exact label ranking / greedy decoding, metrics (macro-F1, the SemEval official score), reports.

Public API:
    evaluate_model(model, tokenizer, examples, label_space, template, *, method="rank", batch_examples=16,
                   head_params=None, max_new_tokens=16) -> dict
    eval_identity(splits, split, model_spec, model_config, cfg) -> {model, data, config, git_revision, versions}
    write_eval_json(path, result, **identity) / read_eval_json(path)
"""

from harness.eval.evaluate import (
    eval_identity,
    evaluate_model,
    print_summary,
    read_eval_json,
    write_eval_json,
)

__all__ = ["eval_identity", "evaluate_model", "print_summary", "read_eval_json", "write_eval_json"]
