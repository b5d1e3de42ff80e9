"""Special tokens by role, not by fixed id: read from a tokenizer's own files, lent where a
tokenizer lacks one, and a pretrained tokenizer (``data.tokenizer = hf:NAME`` or a
tokenizer.json) shared by every family."""

import json
import re
from pathlib import Path

import pytest

from gentext.data.tokenizer import TextTokenizer, make_tokenizer
from gentext.errors import GentextError
from hf_fixtures import END_OF_TEXT, gpt2_style_tokenizer
from tiny_runs import made_up_sentences

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ["gpt", "seqvae", "seqgan", "flow", "mdlm"]


def test_no_module_uses_fixed_special_ids():
    pattern = re.compile(r"\b(PAD|BOS|EOS|UNK|MASK)_ID\b")
    users = [str(path.relative_to(ROOT)) for folder in ("gentext", "plugins", "cli", "examples",
                                                           "bench", "dev", "tests")
             for path in (ROOT / folder).rglob("*.py*")
             if path.suffix in (".py", ".py-tpl") and path != Path(__file__)
             and pattern.search(path.read_text(encoding="utf-8", errors="replace"))]
    assert users == []


def bert_like_folder(tmp_path, config_file="tokenizer_config.json"):
    """A word-level tokenizer whose specials sit at the end, in an order of its own, named
    only in ``config_file``."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["the", "cat", "sat", "on", "mat"]
    specials = ["[SEP]", "[CLS]", "[UNK]", "[PAD]", "[MASK]"]
    vocab = {token: i for i, token in enumerate(words + specials)}
    inner = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    inner.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    folder = tmp_path / "bert-like"
    folder.mkdir()
    inner.save(str(folder / "tokenizer.json"))
    roles = {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "[UNK]",
             "pad_token": {"content": "[PAD]", "special": True}, "mask_token": "[MASK]"}
    (folder / config_file).write_text(json.dumps(roles), encoding="utf-8")
    return folder


@pytest.mark.parametrize("config_file", ["tokenizer_config.json", "special_tokens_map.json"])
def test_roles_are_read_from_the_tokenizers_own_files(tmp_path, config_file):
    tokenizer = TextTokenizer.load(bert_like_folder(tmp_path, config_file), source="hf:x")
    assert (tokenizer.eos_id, tokenizer.bos_id, tokenizer.unk_id, tokenizer.pad_id,
            tokenizer.mask_id) == (5, 6, 7, 8, 9)
    assert tokenizer.decode([6, 1, 2, 9, 5, 8]) == "cat sat"  # roles never print
    assert tokenizer.unknown_pieces("the dog sat") == ["dog"]


def test_a_role_gpt2_lacks_is_lent_by_its_end_of_text(tmp_path):
    tokenizer = gpt2_style_tokenizer(made_up_sentences(50))
    tokenizer.save_pretrained(tmp_path)
    ours = TextTokenizer.load(tmp_path, source=f"hf:{tmp_path}")
    end = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    assert end == len(tokenizer) - 1  # its id is where GPT-2 put it, not 0-3
    assert (ours.bos_id, ours.eos_id, ours.pad_id, ours.unk_id) == (end, end, end, end)
    assert ours.lent == ("pad",) and ours.unknown_pieces("any text at all") == []
    assert ours.name.endswith("(byte-level BPE), 320 tokens")


def test_a_tokenizer_without_an_end_or_with_a_role_it_lacks_is_one_error(tmp_path):
    folder = bert_like_folder(tmp_path)
    (folder / "tokenizer_config.json").write_text('{"eos_token": "[END]"}')
    with pytest.raises(GentextError, match="names '\\[END\\]' as its eos token"):
        TextTokenizer.load(folder)
    (folder / "tokenizer_config.json").write_text('{"bos_token": "[CLS]"}')
    with pytest.raises(GentextError, match="no end-of-text token"):
        TextTokenizer.load(folder)


def test_a_run_folder_is_a_tokenizer_folder_transformers_reads(tmp_path):
    transformers = pytest.importorskip("transformers")
    ours = make_tokenizer("bpe", made_up_sentences(80), 300)
    ours.save(tmp_path / "tokenizer.json")
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    assert (theirs.pad_token_id, theirs.bos_token_id, theirs.eos_token_id,
            theirs.unk_token_id) == (ours.pad_id, ours.bos_id, ours.eos_id, ours.unk_id)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_trains_and_samples_with_a_gpt2_style_tokenizer(
        family, cli, corpus, tmp_path, tiny_args):
    folder = tmp_path / "gpt2-tokenizer"
    gpt2_style_tokenizer(made_up_sentences(200)).save_pretrained(folder)
    spec = f"hf:{folder}" if family != "seqgan" else str(folder / "tokenizer.json")
    run = tmp_path / family
    result = cli(*tiny_args(family, corpus, run, "--set", f"data.tokenizer={spec}",
                            "--set", "train.steps=2", "--set", "train.samples=0"))
    assert result.exit_code == 0, result.stderr
    config = (run / "config.toml").read_text()
    assert f'tokenizer = "{spec}"' in config
    loaded = TextTokenizer.load(run / "tokenizer.json")
    assert loaded.vocab_size == 320 and loaded.eos_id == 319 and loaded.pad_id == 319
    sampled = cli("sample", run, "--n", "2", "--max-new-tokens", "6")
    assert sampled.exit_code == 0, sampled.stderr
    assert END_OF_TEXT not in sampled.stdout


def test_a_tokenizer_that_is_not_there_is_one_line(cli, corpus, tmp_path, tiny_args,
                                                   assert_one_line_error, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = cli(*tiny_args("gpt", corpus, tmp_path / "a", "--set",
                            "data.tokenizer=hf:no-such-tokenizer-cached"))
    assert_one_line_error(result, "cannot be reached")
    result = cli(*tiny_args("gpt", corpus, tmp_path / "b", "--set", "data.tokenizer=wordpiece"))
    assert_one_line_error(result, "is not bpe, char, word, hf:NAME or the path")
