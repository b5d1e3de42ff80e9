"""The model contract and the parts families share.

``contract`` is what every family implements (``TextModel``, ``Vocab``, ``Capabilities``,
``SamplingOptions``, ``StepContext``); ``autoregressive`` is the base a next-token family
writes one step of; ``transformer``, ``estimators``, ``length_prior``, ``optim`` and
``linear_cross_entropy`` are maths a family may reuse. Nothing here knows about files, runs,
plugins or the command line.

May import: gentext.errors, gentext.config, gentext.distributed, gentext.deprecation
(0.1.0's Capabilities fields)
"""
