"""The plugin's own tests: the model contract, then the plugin through gentext's CLI."""

import torch
from typer.testing import CliRunner

from gentext.api import SamplingOptions, Vocab, check_model
from gentext_bigram.config import BigramConfig
from gentext_bigram.model import Bigram

VOCAB = Vocab(size=8, pad_id=0, bos_id=1, eos_id=2)


def test_nll_counts_every_predicted_token_and_training_learns_the_sentence():
    model = Bigram(BigramConfig(), VOCAB)
    batch = {"tokens": torch.tensor([[1, 4, 5, 2]] * 4), "lengths": torch.tensor([4] * 4)}
    nats, count = model.nll(batch)
    assert count == 12 and torch.isclose(nats, torch.tensor(12 * torch.log(torch.tensor(8.0))))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.5)
    for _ in range(50):
        optimizer.zero_grad()
        model.loss(batch)["loss"].backward()
        optimizer.step()
    assert model.sample(3, SamplingOptions(temperature=0), max_new_tokens=5) == [[4, 5]] * 3


def test_the_model_keeps_gentexts_contract():
    check_model("bigram")  # nll a sum, <eos> counted, sampling semantics, save and load


def test_gentext_lists_the_model_dataset_metric_and_command():
    from gentext_cli.app import build_app

    runner, app = CliRunner(), build_app()
    assert "bigram" in runner.invoke(app, ["models"]).stdout
    assert "bigram-greetings" in runner.invoke(app, ["datasets"]).stdout
    assert "bigram-questions" in runner.invoke(app, ["metrics"]).stdout
    assert "bigram-next" in runner.invoke(app, ["--help"]).stdout
