"""Training a run: assembling it (``prepare``), the loop (``trainer``) and its parts (one
optimizer step: ``step``; accelerate and DDP: ``processes``; batches on the device:
``prefetch``; what it reports: ``progress``; Ctrl-C: ``interrupts``; ``compiling``; the end of
a run: ``finish``), devices and precision (``devices``), FSDP (``sharding``), memory watching
and experiment trackers.

May import: gentext.errors, gentext.config, gentext.distributed, gentext.models,
gentext.plugins, gentext.data, gentext.evaluation, gentext.runs
"""
