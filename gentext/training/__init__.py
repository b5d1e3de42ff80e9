"""Training a run: assembling it (``prepare``), the loop (``trainer``), devices, precision and
processes (``devices``, ``sharding``), memory watching and experiment trackers.

May import: gentext.errors, gentext.config, gentext.distributed, gentext.models,
gentext.plugins, gentext.data, gentext.evaluation, gentext.runs
"""
