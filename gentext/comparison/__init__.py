"""Comparing runs and families: ``compare`` (one table, one protocol), ``sweep`` (sample quality
against temperature) and ``recipes`` (the benchmark runs `compare --recipe` trains).

May import: gentext.errors, gentext.config, gentext.distributed, gentext.models,
gentext.plugins, gentext.data, gentext.evaluation, gentext.runs, gentext.training
"""
