"""Reconstruction and interpolation figures of a latent space (gentext.evaluation.latent_space)."""

import pytest
import torch

from gentext.data.batching import Encoded
from gentext.evaluation.latent_space import measure, path, same_words, sentence_bleu4
from gentext.models.contract import Capabilities, TextModel, Vocab

WORDS = {10: "Emma", 11: "saw", 12: "the", 13: "letter", 14: "ball", 15: "Harriet", 20: "It",
         21: "rained"}


class WordTokenizer:
    """Token ids <-> words, enough for decoding and padding."""

    pad_id = 0

    def decode(self, ids):
        return " ".join(WORDS[i] for i in ids if i in WORDS) + "."


def encoded_rows(rows):
    return Encoded([list(r) for r in rows], [WordTokenizer().decode(r) for r in rows], dropped=0)


ROWS = [(1, 10, 11, 12, 13, 2), (1, 10, 11, 12, 14, 2), (1, 15, 11, 12, 13, 2), (1, 20, 21, 11, 14, 2)]


class Collapsed(TextModel):
    """A 'latent' model whose decoder ignores z: every code decodes to the same sentence."""

    capabilities = Capabilities(latent=True)

    def __init__(self):
        super().__init__(None, Vocab(size=30, pad_id=0, bos_id=1, eos_id=2, unk_id=3))
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def encode(self, batch, draw=False):
        return batch["tokens"].float()[:, 1:2] + (torch.randn(len(batch["tokens"]), 1) if draw else 0)

    def decode(self, z, options=None, *, max_new_tokens):
        return [[20, 21] for _ in range(z.size(0))]


@pytest.fixture(scope="module")
def fitted(fit):
    """A tiny seqvae fitted to ROWS: z tells apart the sentences that share their first words."""
    from gentext_seqvae.config import SeqVAEConfig
    from gentext_seqvae.model import SeqVAE

    from gentext.data.batching import collate

    torch.manual_seed(0)
    config = SeqVAEConfig(embedding_dim=16, encoder_hidden=16, decoder_hidden=32, latent_dim=8,
                          dropout=0.0, free_bits=1.0, kl_schedule="constant",
                          autoencoder_fraction=0.0)
    model = SeqVAE(config, Vocab(size=30, pad_id=0, bos_id=1, eos_id=2, unk_id=3))
    return fit(model, collate([list(r) for r in ROWS], pad_id=0), steps=300)


def test_sentence_bleu4_and_exact_match_score_one_sentence_against_its_input():
    assert sentence_bleu4("Emma saw the letter.", "Emma saw the letter.") == pytest.approx(1.0)
    assert sentence_bleu4("It rained", "Emma saw the letter.") == 0.0  # no word in common
    partly = sentence_bleu4("Emma saw the ball.", "Emma saw the letter.")
    assert 0 < partly < 1
    assert same_words("Emma  saw the letter .", "Emma saw the letter.")
    assert not same_words("Emma saw the ball.", "Emma saw the letter.")


def test_path_runs_from_the_first_code_to_the_second_for_vectors_and_sequences():
    ends = torch.tensor([[0.0, 2.0], [4.0, -2.0]])
    points = path(ends, 5)
    assert torch.equal(points[0], ends[0]) and torch.equal(points[-1], ends[1])
    assert torch.allclose(points[2], torch.tensor([2.0, 0.0]))
    sequences = torch.randn(2, 3, 4)
    assert path(sequences, 3).shape == (3, 3, 4)


def test_a_vae_that_reconstructs_its_sentences_scores_one_and_its_paths_end_on_them(fitted):
    figures = measure(fitted, WordTokenizer(), encoded_rows(ROWS), max_new_tokens=10, pairs=2,
                      steps=5)
    assert figures.sentences == 4 and figures.pairs == 2 and figures.steps == 5
    assert figures.bleu4_mean == pytest.approx(1.0) and figures.exact_mean == 1.0
    assert 0 <= figures.bleu4_draw <= 1 and 0 <= figures.exact_draw <= 1
    assert figures.bleu4_to_first[0] == pytest.approx(1.0)  # each path starts on its sentence
    assert figures.bleu4_to_second[-1] == pytest.approx(1.0)  # and ends on the other
    assert 2 <= figures.distinct_per_path <= 5


def test_a_decoder_that_ignores_z_gives_one_sentence_a_path_and_no_reconstruction():
    figures = measure(Collapsed().eval(), WordTokenizer(), encoded_rows(ROWS[:3]),
                      max_new_tokens=10, pairs=1, steps=5)
    assert figures.bleu4_mean < 0.1 and figures.exact_mean == 0.0 and figures.exact_draw == 0.0
    assert figures.distinct_per_path == 1.0 and figures.paths_nearly_distinct == 0.0
    assert len(set(figures.bleu4_to_first)) == 1  # the same sentence all along the path
