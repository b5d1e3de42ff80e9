"""Scoring a model: likelihoods on a split (``evaluate``), sample metrics (``metrics``, ``bleu``),
the latent space, infilling, and the contract checker a plugin runs in its tests
(``contract_check``).

May import: gentext.errors, gentext.config, gentext.distributed, gentext.models,
gentext.plugins, gentext.data
"""
