"""bench/gpu_check.py (`make gpu-check`), the GPU check's own logic: run on the CPU with tiny
models (its --device cpu --tiny mode), its one line without CUDA, its time budget, and the
comparisons behind its rows."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    """bench/gpu_check.py imported as a module."""
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["gpu_check"]


def run_check(tmp_path, *args, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=tmp_path,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                               **env},
                          capture_output=True, text=True, timeout=300)


def table_rows(stdout: str) -> list[list[str]]:
    """The rows of the printed markdown table (header and rule left out), as cells."""
    lines = [line for line in stdout.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[1:]]


def test_tiny_mode_on_the_cpu_trains_evaluates_and_samples_each_family(tmp_path):
    out = tmp_path / "table.md"
    result = run_check(tmp_path, "--device", "cpu", "--tiny", "--families", "gpt,mdlm",
                       "--no-bench", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    rows = table_rows(result.stdout)
    assert [(r[0], r[1]) for r in rows] == [
        ("gpt: train", "pass"), ("gpt: eval vs logged", "pass"), ("gpt: sample", "pass"),
        ("mdlm: train", "pass"), ("mdlm: eval vs logged", "pass"), ("mdlm: sample", "pass"),
        ("two GPUs: DDP, FSDP", "skip")]
    details = {r[0]: r[3] for r in rows}
    assert "final loss" in details["gpt: train"] and "tok/s" in details["gpt: train"]
    assert "(exact;" in details["gpt: eval vs logged"]
    assert "(bound, k=2;" in details["mdlm: eval vs logged"]
    assert details["gpt: sample"].startswith("8 non-empty lines")
    assert details["two GPUs: DDP, FSDP"].startswith("skipped:")
    assert "6 passed, 0 failed, 1 skipped" in result.stdout
    written = out.read_text(encoding="utf-8")
    assert "| check | result | seconds | detail |" in written and "| mdlm: sample | pass |" in written


def test_without_cuda_it_says_so_in_one_line_and_exits_2(tmp_path, gpu_check):
    result = run_check(tmp_path, CUDA_VISIBLE_DEVICES="")
    assert result.returncode == 2, result.stderr
    assert result.stdout == gpu_check.NO_CUDA + "\n"
    assert result.stdout == "gpu-check: no CUDA device: this check needs a GPU (torch sees none)\n"
    assert not (tmp_path / "gpu-check.md").exists()


def test_checks_past_the_budget_are_skipped_as_out_of_time(tmp_path):
    result = run_check(tmp_path, "--device", "cpu", "--tiny", "--families", "seqgan",
                       "--budget-minutes", "0")
    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout)
    assert [r[0] for r in rows] == ["seqgan: train", "seqgan: eval vs logged", "seqgan: sample",
                                    "bench/gpu_gpt.py", "two GPUs: DDP, FSDP"]
    assert all(r[1:] == ["skip", "0.0", "skipped: out of time"] for r in rows), rows
    assert (tmp_path / "gpu-check.md").is_file()


def test_an_exact_evaluation_must_match_the_logged_one_within_1e_3(gpu_check):
    logged = {"step": 30, "nats_per_token": 4.0, "stderr_nats_per_token": None}
    report = {"step": 30, "likelihood": "exact", "nats_per_token": 4.002,
              "stderr_nats_per_token": None}
    assert "(exact;" in gpu_check.compare_evaluations(report, logged)
    with pytest.raises(gpu_check.Failed, match="eval 4.0100 vs logged 4.0000"):
        gpu_check.compare_evaluations({**report, "nats_per_token": 4.01}, logged)
    with pytest.raises(gpu_check.Failed, match="saved model is step 20"):
        gpu_check.compare_evaluations({**report, "step": 20}, logged)


def test_a_bound_may_differ_by_3_standard_errors_or_2_percent(gpu_check):
    logged = {"step": 30, "nats_per_token": 4.0, "stderr_nats_per_token": 0.03}
    report = {"step": 30, "likelihood": "bound", "nll_samples": 2, "nats_per_token": 4.12,
              "stderr_nats_per_token": 0.03}
    assert "3 x" in gpu_check.compare_evaluations(report, logged)  # 0.12 < 3 x 0.042
    unknown = {"stderr_nats_per_token": None}
    assert gpu_check.compare_evaluations({**report, **unknown, "nats_per_token": 4.07},
                                         {**logged, **unknown})
    with pytest.raises(gpu_check.Failed):
        gpu_check.compare_evaluations({**report, "nats_per_token": 4.2}, logged)
    with pytest.raises(gpu_check.Failed):
        gpu_check.compare_evaluations({**report, **unknown, "nats_per_token": 4.12},
                                      {**logged, **unknown})


def test_the_loss_falls_when_its_last_quarter_is_below_its_first(gpu_check):
    assert gpu_check.quarter_means([5, 5, 4, 4, 3, 3, 2, 2]) == (5, 2)
    assert gpu_check.quarter_means([5, 4]) == (5, 4)


def test_the_bench_headline_is_gentexts_ratio_to_transformers(gpu_check):
    rows = [{"task": "training", "model": "transformers GPT2LMHeadModel, eager",
             "tokens_per_s": 100.0, "ratio": 1.0},
            {"task": "training", "model": "gentext gpt", "tokens_per_s": 150.0, "ratio": 1.5},
            {"task": "sampling, batch 1", "model": "transformers generate", "ratio": 1.0},
            {"task": "sampling, batch 1", "model": "gentext sample (KV cache)", "ratio": 20.0}]
    assert gpu_check.bench_headline(rows) == ("training 1.50x transformers (150 tok/s); "
                                              "sampling, batch 1 20.00x")
