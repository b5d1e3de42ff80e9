"""Starting from a real GPT-2 checkpoint, offline: a GPT-2-shaped model with random weights and
a GPT-2-style tokenizer (``<|endoftext|>`` its only special token), saved by transformers,
imports, evaluates equal to transformers, samples as transformers does, fine-tunes, and
exports back to a folder ``pipeline("text-generation")`` conditions as gentext does."""

import json

import pytest
import torch

from hf_fixtures import END_OF_TEXT, gpt2_style_folder
from tiny_runs import made_up_sentences

transformers = pytest.importorskip("transformers")

PROMPT = "Emma wrote to"


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory):
    texts = made_up_sentences(200, seed=1)
    return gpt2_style_folder(tmp_path_factory.mktemp("hub") / "gpt2-tiny", texts)


@pytest.fixture(scope="module")
def imported(gpt2_folder, tmp_path_factory):
    from gentext_gpt.interop import import_hf

    return import_hf(gpt2_folder, tmp_path_factory.mktemp("runs") / "gpt2")


def hf_model_and_tokenizer(folder):
    model = transformers.GPT2LMHeadModel.from_pretrained(folder, local_files_only=True).eval()
    return model, transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)


def transformers_total_nats(folder, texts) -> tuple[float, int]:
    """-log p of each text as GPT-2 was trained on it, <|endoftext|> text <|endoftext|>."""
    model, tokenizer = hf_model_and_tokenizer(folder)
    end = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    total, count = 0.0, 0
    for text in texts:
        ids = torch.tensor([[end, *tokenizer(text, add_special_tokens=False).input_ids, end]])
        with torch.no_grad():
            log_probs = torch.log_softmax(model(ids).logits[0, :-1].double(), dim=-1)
        total -= log_probs.gather(1, ids[0, 1:, None]).sum().item()
        count += ids.size(1) - 1
    return total, count


def test_the_tokenizer_keeps_gpt2s_ids_and_names_its_roles(imported, gpt2_folder):
    from gentext.runs.checkpoint import load_run

    run = load_run(imported)
    _, theirs = hf_model_and_tokenizer(gpt2_folder)
    end = theirs.convert_tokens_to_ids(END_OF_TEXT)
    tokenizer = run.tokenizer
    assert (tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id) == (end, end, end)
    assert tokenizer.vocab_size == len(theirs) and tokenizer.kind == "hf"
    assert tokenizer.encode(PROMPT) == theirs(PROMPT, add_special_tokens=False).input_ids
    assert tokenizer.decode([end, *tokenizer.encode(PROMPT), end]) == PROMPT


def test_eval_gives_the_total_log_likelihood_transformers_gives(cli, imported, gpt2_folder,
                                                                tmp_path):
    texts = made_up_sentences(40, seed=2)
    data = tmp_path / "data.txt"
    data.write_text("\n".join(texts) + "\n", encoding="utf-8")
    result = cli("eval", imported, "--data", data, "--split", "all", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    expected, count = transformers_total_nats(gpt2_folder, texts)
    assert report["tokens"] == count and report["likelihood"] == "exact"
    assert report["nats_per_token"] * report["tokens"] == pytest.approx(expected, rel=1e-4)


def test_greedy_samples_continue_a_prompt_as_transformers_does(cli, imported, gpt2_folder):
    result = cli("sample", imported, "--prompt", PROMPT, "--temperature", "0", "--n", "1",
                 "--max-new-tokens", "12")
    assert result.exit_code == 0, result.stderr
    model, tokenizer = hf_model_and_tokenizer(gpt2_folder)
    end = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    ids = torch.tensor([[end, *tokenizer(PROMPT, add_special_tokens=False).input_ids]])
    with torch.no_grad():
        out = model.generate(ids, do_sample=False, max_new_tokens=12, eos_token_id=end,
                             pad_token_id=end)
    new = out[0, ids.size(1):].tolist()
    new = new[: new.index(end)] if end in new else new
    expected = PROMPT + tokenizer.decode(new)
    assert result.stdout.strip() == expected.strip()


def test_it_fine_tunes_and_exports_back_to_a_pipeline_that_conditions_as_gentext(
        cli, imported, tmp_path):
    texts = made_up_sentences(120, seed=3)
    data = tmp_path / "mine.txt"
    data.write_text("\n".join(texts) + "\n", encoding="utf-8")
    tuned = tmp_path / "tuned"
    result = cli("train", "--model", "gpt", "--init", imported, "--data", data, "--out", tuned,
                 "--quiet", "--set", "train.steps=3", "--set", "train.batch_size=8",
                 "--set", "train.samples=0")
    assert result.exit_code == 0, result.stderr
    before = json.loads(cli("eval", imported, "--data", data, "--json").stdout)["nats_per_token"]
    after = json.loads(cli("eval", tuned, "--data", data, "--json").stdout)["nats_per_token"]
    assert after < before  # three steps on the corpus already fit it better

    exported = tmp_path / "exported"
    assert cli("export", tuned, exported).exit_code == 0
    tokenizer = transformers.AutoTokenizer.from_pretrained(exported, local_files_only=True)
    end = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    assert tokenizer(PROMPT).input_ids[0] == end  # the bos it adds itself
    generator = transformers.pipeline("text-generation", model=str(exported),
                                      tokenizer=tokenizer, device="cpu")
    text = generator(PROMPT, do_sample=False, max_new_tokens=8,
                     return_full_text=True)[0]["generated_text"]
    result = cli("sample", tuned, "--prompt", PROMPT, "--temperature", "0", "--n", "1",
                 "--max-new-tokens", "8")
    assert result.exit_code == 0, result.stderr
    assert text.strip().startswith(result.stdout.strip())

    again = tmp_path / "again"
    assert cli("import", exported, "--out", again).exit_code == 0
    reimported = json.loads(cli("eval", again, "--data", data, "--json").stdout)
    assert reimported["nats_per_token"] == pytest.approx(after, abs=1e-6)


def test_a_hub_name_not_in_the_cache_is_one_line_offline(cli, tmp_path, monkeypatch,
                                                         assert_one_line_error):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    result = cli("import", "gpt2-not-cached-here", "--out", tmp_path / "run")
    assert_one_line_error(result, "cannot be reached")
    assert "local folder" in result.error_lines[0] and not (tmp_path / "run").exists()


def test_a_hub_id_in_the_local_cache_imports_without_the_network(cli, gpt2_folder, tmp_path,
                                                                  monkeypatch):
    """`gentext import gpt2` after `hf download gpt2`: the id is found in the hub cache's
    layout (models--NAME/refs/main naming a snapshot folder), offline."""
    import shutil

    import huggingface_hub.constants

    cache = tmp_path / "hub-cache"
    commit = "0" * 40
    snapshot = cache / "models--tiny-gpt2" / "snapshots" / commit
    shutil.copytree(gpt2_folder, snapshot)
    (cache / "models--tiny-gpt2" / "refs").mkdir()
    (cache / "models--tiny-gpt2" / "refs" / "main").write_text(commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = cli("import", "tiny-gpt2", "--out", tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    config = (tmp_path / "run" / "config.toml").read_text()
    assert 'tokenizer = "hf:tiny-gpt2"' in config  # named as the hub names it
    texts = made_up_sentences(10, seed=4)
    data = tmp_path / "data.txt"
    data.write_text("\n".join(texts) + "\n", encoding="utf-8")
    report = json.loads(cli("eval", tmp_path / "run", "--data", data, "--split", "all",
                            "--json").stdout)
    expected, _ = transformers_total_nats(gpt2_folder, texts)
    assert report["nats_per_token"] * report["tokens"] == pytest.approx(expected, rel=1e-4)
