"""Sharded no-grad scoring -> per-example log-likelihood memmaps (``score``, ``store``) -> weights (``weights``).

Public API:
    harness.recipes.atlantis.scoring.score.run_scoring(cfg, examples, template, tokenizer, run_dir, on_batch=None) -> scores_dir
    harness.recipes.atlantis.scoring.score.score_batch(model, batch, device) -> (sums [B] float64, counts [B])
    harness.recipes.atlantis.scoring.store.check_scores(scores_dir, *, expected, names) -> (manifest, {name: ModelArrays})
    harness.recipes.atlantis.scoring.weights.missing_roles(formula, scored_roles) -> roles still to score ([] = weights can be written)
    harness.recipes.atlantis.scoring.weights.write_weights(scores_dir, out_dir, examples, template_hash, weights_cfg) -> manifest
    harness.recipes.atlantis.scoring.weights.load_weights(path, *, n, dataset_fingerprint, template_hash) -> np.memmap float32 [n]
"""
