"""transformers interop: `gentext export --format hf` and `gentext import`, offline."""

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

SENTENCE = "Emma wrote to the letter."


def gentext_logits(run_dir, text=SENTENCE):
    from gentext.runs.checkpoint import load_run

    run = load_run(run_dir)
    ids = [run.tokenizer.bos_id, *run.tokenizer.encode(text)]
    with torch.no_grad():
        return ids, run.model(torch.tensor([ids]))[0, :, : run.tokenizer.vocab_size]


def test_exported_folder_gives_gentexts_logits_in_transformers(cli, trained_gpt, tmp_path):
    out = tmp_path / "hf"
    result = cli("export", trained_gpt, out, "--format", "hf")
    assert result.exit_code == 0, result.stderr
    model = transformers.GPT2LMHeadModel.from_pretrained(out, local_files_only=True).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(out, local_files_only=True)
    assert isinstance(tokenizer, transformers.PreTrainedTokenizerFast)
    ids, expected = gentext_logits(trained_gpt)
    hf_ids = [tokenizer.bos_token_id, *tokenizer(SENTENCE, add_special_tokens=False)["input_ids"]]
    assert hf_ids == ids and tokenizer(SENTENCE)["input_ids"] == ids  # it adds <bos> itself
    assert tokenizer.decode(ids[1:]) == SENTENCE
    with torch.no_grad():
        logits = model(torch.tensor([hf_ids])).logits[0]
    assert logits.dtype == torch.float32 and logits.shape == expected.shape
    assert torch.allclose(logits, expected, atol=1e-5, rtol=0)
    assert json.loads((out / "gentext.json").read_text())["model"] == "gpt"


def test_imported_folder_is_a_run_that_evaluates_and_trains_on(cli, trained_gpt, corpus, tmp_path):
    exported, imported = tmp_path / "hf", tmp_path / "imported"
    assert cli("export", trained_gpt, exported).exit_code == 0
    result = cli("import", exported, "--out", imported)
    assert result.exit_code == 0, result.stderr
    assert torch.equal(gentext_logits(imported)[1], gentext_logits(trained_gpt)[1])

    scores = []
    for run in (trained_gpt, imported):
        result = cli("eval", run, "--data", corpus, "--json")
        assert result.exit_code == 0, result.stderr
        scores.append(json.loads(result.stdout)["nats_per_token"])
    assert scores[0] == pytest.approx(scores[1], abs=1e-6)

    # training on from the import starts at its weights: a tiny learning rate barely moves them
    tuned = tmp_path / "tuned"
    result = cli("train", "--init", imported, "--data", corpus, "--out", tuned, "--quiet",
                 "--set", "train.steps=2", "--set", "train.lr=1e-8", "--set", "train.batch_size=8")
    assert result.exit_code == 0, result.stderr
    assert torch.allclose(gentext_logits(tuned)[1], gentext_logits(imported)[1], atol=1e-3)


def test_export_refuses_other_families_and_existing_folders(cli, trained_gpt, tmp_path, corpus,
                                                           toy_plugin):
    toy = tmp_path / "toy"
    assert cli("train", "--model", "toy", "--data", corpus, "--out", toy, "--quiet",
               "--set", "train.steps=1", "--set", "data.vocab_size=300").exit_code == 0
    result = cli("export", toy, tmp_path / "hf")
    assert result.exit_code != 0 and "only gpt runs export" in result.error_lines[0]
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    result = cli("export", trained_gpt, taken)
    assert result.exit_code != 0 and "already exists" in result.error_lines[0]
    assert (taken / "keep.txt").read_text() == "mine"
    result = cli("export", trained_gpt, tmp_path / "x", "--format", "onnx")
    assert result.exit_code != 0 and "unknown format 'onnx'" in result.error_lines[0]


def test_import_refuses_pickles_and_foreign_models(cli, trained_gpt, tmp_path):
    exported = tmp_path / "hf"
    assert cli("export", trained_gpt, exported).exit_code == 0
    # a pickle where the weights belong is never opened
    (exported / "model.safetensors").unlink()
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    import pickle

    (exported / "pytorch_model.bin").write_bytes(pickle.dumps(Payload()))
    result = cli("import", exported, "--out", tmp_path / "run")
    assert result.exit_code != 0 and "only as safetensors" in result.error_lines[0]
    assert not marker.exists() and not (tmp_path / "run").exists()

    config = json.loads((exported / "config.json").read_text())
    (exported / "config.json").write_text(json.dumps({**config, "model_type": "llama"}))
    result = cli("import", exported, "--out", tmp_path / "run")
    assert result.exit_code != 0 and "imports GPT-2 models" in result.error_lines[0]
    result = cli("import", tmp_path / "nowhere", "--out", tmp_path / "run")
    assert result.exit_code != 0 and "is neither a local folder" in result.error_lines[0]


def test_export_refuses_a_modern_gpt_in_one_line(cli, corpus, tmp_path, tiny_args,
                                                 assert_one_line_error):
    run = tmp_path / "modern"
    trained = cli(*tiny_args("gpt", corpus, run, "--set", "train.steps=2",
                             "--set", "model.arch=modern"))
    assert trained.exit_code == 0, trained.stderr
    result = cli("export", run, tmp_path / "hf")
    assert_one_line_error(result, "not GPT-2's architecture")
    assert "positions = 'rotary'" in result.error_lines[0] and not (tmp_path / "hf").exists()
