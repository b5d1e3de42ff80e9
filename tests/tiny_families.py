"""Each built-in family at its smallest, and a batch for it: shared by the contract, device
and compile tests (a helper module, not a test file)."""

import torch

from gentext.data.batching import collate
from gentext.models.contract import Vocab
from gentext.plugins.manager import get_model

VOCAB = Vocab(size=40, pad_id=0, bos_id=1, eos_id=2, unk_id=3, labels=("neg", "pos"))
TINY = {  # each family at its smallest
    "gpt": dict(n_layer=1, n_head=2, n_embd=16, max_len=32, dropout=0.0),
    "seqvae": dict(embedding_dim=8, encoder_hidden=8, decoder_hidden=16, latent_dim=4,
                   nll_samples=3, dropout=0.0),
    "seqgan": dict(embedding_dim=8, hidden_dim=16, disc_embedding_dim=8, disc_filters=4,
                   pretrain_steps=0, adversarial_batch_size=4, max_generated_len=8,
                   monitor_samples=0),
    "flow": dict(dim=4, hidden=8, codec_hidden=8, layers=2, max_len=32, nll_samples=2),
    "mdlm": dict(n_layer=1, n_head=2, n_embd=16, max_len=32, dropout=0.0, nll_samples=16,
                 sampling_steps=8),
}


def tiny_model(family: str):
    spec = get_model(family)
    torch.manual_seed(0)
    return spec.build(spec.config(**TINY[family]), VOCAB).eval()


def batch():
    rows = [[1, 5, 6, 7, 2], [1, 8, 2], [1, 9, 10, 11, 12, 13, 2], [1, 14, 15, 2]]
    out = collate(rows, pad_id=0)
    out["labels"] = torch.tensor([0, 1, 0, 1])
    return out
