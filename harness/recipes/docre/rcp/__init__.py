"""LMRC's Relation Candidate Proposal (RCP): an ATLOP-style binary classifier of entity pairs (related / not).

    features.py   Document -> word pieces with ``*`` around every mention, mention-start positions, pairs, labels
    encoder.py    encoder presets / local checkpoints, and the two-chunk encoding of documents over the window
    model.py      entity logsumexp pooling, localized context pooling, grouped bilinear -> one logit per pair;
                  the BCE loss module the engine drives
    train.py      RCPObjective on the one loop: the RCP loss, two learning rates, per-epoch dev selection
    propose.py    related-probabilities, threshold tuning on dev, the candidates file of the LLM stage
    config.py     the ``rcp`` section of DocREConfig (``RCPConfig``) and the stage's run-folder paths (``RCPFiles``)
"""
