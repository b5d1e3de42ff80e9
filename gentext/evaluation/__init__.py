"""Scoring a model: likelihoods on a split (``evaluate``), sample metrics (``metrics``, ``bleu``),
samples under another run's likelihood (``generative``), the latent space, infilling, and the
contract checker a plugin runs in its tests (``contract_check``).

May import: gentext.errors, gentext.config, gentext.distributed, gentext.models,
gentext.plugins, gentext.data
"""
