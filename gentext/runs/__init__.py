"""A run directory on disk: its files and checkpoints (``checkpoint``), the training state a
checkpoint adds to the weights (``training_state``), atomic writes (``atomic``), the metrics
log and the plots drawn from it. Every command that reads a run goes through ``load_run``.

May import: gentext.errors, gentext.config, gentext.distributed, gentext.models,
gentext.plugins, gentext.data, gentext.evaluation
"""
