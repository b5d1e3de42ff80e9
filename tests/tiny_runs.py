"""Tiny runs from the command line: each family's smallest `--set` settings and a made-up
corpus. Shared by the tests (conftest.py) and `bench/gpu_check.py --tiny`, which checks its own
logic with them; no pytest here, so the script can import it."""

import random

# Each family at its smallest, as `--set` settings: trains a few steps in about a second.
# "gpt" is a 1-layer, 32-wide GPT; "toy" is tests/toy_plugin.py's model.
TINY = {
    "gpt": ["model.n_layer=1", "model.n_head=2", "model.n_embd=32", "model.max_len=64",
            "data.max_len=64", "data.vocab_size=300", "train.batch_size=8",
            "train.warmup_steps=2", "train.log_every=1", "train.samples=2"],
    "seqvae": ["model.embedding_dim=16", "model.encoder_hidden=16", "model.decoder_hidden=32",
               "model.latent_dim=4", "model.nll_samples=5", "data.vocab_size=300",
               "train.batch_size=8", "train.warmup_steps=2", "train.log_every=1",
               "train.samples=2", "train.steps=6", "train.eval_every=3",
               "train.valid_nll_samples=3"],
    "seqgan": ["model.embedding_dim=16", "model.hidden_dim=32", "model.disc_embedding_dim=8",
               "model.disc_filters=4", "model.monitor_samples=10", "data.vocab_size=300",
               "train.batch_size=8", "train.warmup_steps=2", "train.log_every=1",
               "train.samples=3"],
    "flow": ["model.dim=4", "model.hidden=16", "model.layers=4", "model.max_len=48",
             "data.max_len=48", "data.vocab_size=300", "train.batch_size=16", "train.warmup_steps=2",
             "train.log_every=1", "train.samples=3", "train.valid_nll_samples=2"],
    "mdlm": ["model.n_layer=1", "model.n_head=2", "model.n_embd=32", "model.max_len=64",
             "model.nll_samples=2", "model.sampling_steps=8", "data.max_len=64",
             "data.vocab_size=300", "train.batch_size=8", "train.warmup_steps=2",
             "train.log_every=1", "train.samples=2", "train.valid_nll_samples=2"],
    "toy": ["train.steps=8", "train.eval_every=4", "train.log_every=1", "train.batch_size=8",
            "data.vocab_size=300", "train.warmup_steps=2", "train.samples=0"],
}
NOUNS = ["Emma", "Harriet", "the letter", "Mr. Knightley", "the carriage", "her sister"]
VERBS = ["saw", "wrote to", "admired", "forgot", "answered", "waited for"]


def made_up_sentences(count: int, seed: int = 0) -> list[str]:
    """``count`` short sentences of the nouns and verbs above."""
    rng = random.Random(seed)
    return [f"{rng.choice(NOUNS)} {rng.choice(VERBS)} {rng.choice(NOUNS).lower()}."
            for _ in range(count)]
