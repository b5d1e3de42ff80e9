"""Bad input, generated: whatever the bytes, JSON, settings, options or prompts, gentext
either works (documented behaviour) or says what is wrong in one line, with a non-zero exit;
it never crashes with a traceback, hangs, or touches an existing run."""

import json
import string

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from gentext.config import DataConfig, build_config
from gentext.data.pipeline import load_splits
from gentext.errors import GentextError

QUICK = settings(max_examples=40, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])


def loads_or_says_why(path) -> list[dict] | None:
    try:
        splits = load_splits(DataConfig(source=str(path)))
    except GentextError as exc:
        assert "\n" not in str(exc) and str(exc).strip()
        return None
    examples = splits.train + splits.valid + splits.test
    assert examples and all(isinstance(e["text"], str) and e["text"].strip() for e in examples)
    return examples


@QUICK
@given(data=st.binary(max_size=600))
def test_any_bytes_as_a_text_file(data, tmp_path):
    path = tmp_path / "random.txt"
    path.write_bytes(data)
    loads_or_says_why(path)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                           | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=6)
RECORDS = st.fixed_dictionaries({}, optional={"text": JSON_VALUES | st.text(min_size=1, max_size=20),
                                              "label": JSON_VALUES, "extra": JSON_VALUES})


@QUICK
@given(lines=st.lists(RECORDS | JSON_VALUES | st.text(max_size=15), min_size=1, max_size=6))
def test_any_json_lines_with_any_fields_and_types(lines, tmp_path):
    path = tmp_path / "data.jsonl"
    rendered = [line if isinstance(line, str) and not line.startswith("{") else json.dumps(line)
                for line in lines]
    path.write_text("\n".join(rendered) + "\n", encoding="utf-8")
    loads_or_says_why(path)


@QUICK
@given(key=st.text(string.ascii_letters + "._", max_size=20), value=st.text(max_size=12))
def test_any_set_override(key, value):
    from gentext_gpt.config import GPTConfig

    try:
        build_config("gpt", GPTConfig, {}, [f"{key}={value}"])
    except GentextError as exc:
        assert "\n" not in str(exc)


@pytest.fixture(scope="module")
def sampled_run(tmp_path_factory, nouns, tiny_args):
    """One tiny trained gpt for the sampling properties (trained once: they only read it)."""
    from typer.testing import CliRunner

    from gentext_cli.app import build_app

    folder = tmp_path_factory.mktemp("props")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(f"{n} wrote a letter." for n in nouns * 10) + "\n")
    args = tiny_args("gpt", corpus, folder / "run")
    result = CliRunner().invoke(build_app(), [str(a) for a in args])
    assert result.exit_code == 0, result.stderr
    return folder / "run"


NUMBERS = st.one_of(st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=True).map(str),
                    st.sampled_from(["0", "-0", "inf", "-inf", "nan", "1e309", "", "x"]))


# how many rows: any text, but no huge valid count (a million rows of a tiny model is hours)
COUNTS = st.one_of(st.integers(-10**6, 64).map(str), st.floats(allow_nan=True).map(str),
                   st.sampled_from(["0", "-0", "inf", "-inf", "nan", "1e309", "", "x"]))


@QUICK
@given(n=COUNTS, temperature=NUMBERS, top_p=NUMBERS, top_k=NUMBERS, max_len=NUMBERS)
def test_any_sampling_numbers(cli, sampled_run, n, temperature, top_p, top_k, max_len):
    before = (sampled_run / "model/model.safetensors").read_bytes()
    result = cli("sample", sampled_run, "--n", n, "--temperature", temperature, "--top-p", top_p,
                 "--top-k", top_k, "--max-new-tokens", max_len)
    if result.exit_code == 0:
        assert len(result.stdout.splitlines()) == int(n)
    else:
        assert "Traceback" not in result.stderr and result.stderr.strip()
        assert len(result.stderr.strip().splitlines()) <= 3  # click's usage line + error
    assert (sampled_run / "model/model.safetensors").read_bytes() == before


@QUICK
@given(prompt=st.text(max_size=30))
def test_any_prompt_including_unseen_characters(cli, sampled_run, prompt, assert_one_line_error):
    result = cli("sample", sampled_run, "--n", "2", "--prompt", prompt, "--max-new-tokens", "5")
    if result.exit_code != 0:
        assert_one_line_error(result)


def test_a_10_mb_single_line_is_left_out_quickly(cli, corpus, tmp_path, tiny_args):
    path = tmp_path / "huge.txt"
    huge = "x" * 10_000_000
    path.write_text(corpus.read_text() + huge + "\n" + ("word " * 2_000_000) + "\n")
    result = cli(*tiny_args("gpt", path, tmp_path / "r"))
    assert result.exit_code == 0, result.stderr
    assert "x" * 1000 not in (tmp_path / "r/tokenizer.json").read_text()


def test_labels_on_some_lines_only_stop_a_conditional_model_in_one_line(cli, tmp_path,
                                                                        assert_one_line_error):
    path = tmp_path / "mixed.jsonl"
    rows = [{"text": f"sentence {i} here.", "label": "a" if i % 2 else "b"} for i in range(60)]
    rows[7].pop("label")
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = cli("train", "--model", "seqgan", "--data", path, "--out", tmp_path / "r", "--quiet",
                 "--set", "train.steps=1", "--set", "data.vocab_size=300",
                 "--set", "model.hidden_dim=16", "--set", "model.embedding_dim=8")
    assert_one_line_error(result, "has no label")


def test_a_batch_larger_than_the_data_trains_on_all_of_it(cli, corpus, tmp_path, tiny_args):
    result = cli(*tiny_args("gpt", corpus, tmp_path / "r", "--set", "train.batch_size=100000"))
    assert result.exit_code == 0, result.stderr
