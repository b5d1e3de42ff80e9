"""--device and train.precision: the user's words checked against what torch sees (these
tests pretend to have GPUs by patching torch's queries; tests/test_gpu.py runs on real ones)."""

import pytest
import torch

from gentext.training import devices
from gentext.errors import GentextError
from gentext.runs.metrics_log import MetricsLog
from gentext.training.prepare import assemble_config
from gentext.training.trainer import train


@pytest.fixture
def gpus(monkeypatch):
    """gpus(count, mps=False, bf16=True): pretend torch sees these devices."""

    def pretend(count: int, mps: bool = False, bf16: bool = True):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(devices, "mps_available", lambda: mps)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")

    return pretend


def test_auto_picks_cuda_then_mps_then_the_cpu(gpus):
    gpus(0)
    assert devices.resolve_device("auto") == "cpu"
    gpus(0, mps=True)
    assert devices.resolve_device("auto") == "mps"
    gpus(2, mps=True)
    assert devices.resolve_device("auto") == "cuda"
    assert devices.resolve_device("CUDA:1") == "cuda:1"


@pytest.mark.parametrize("name,count,mps,message", [
    ("cuda", 0, False, "--device cuda was asked for, but torch sees no CUDA device"),
    ("cuda:2", 2, False, r"torch sees 2 CUDA devices \(cuda:0 to cuda:1\)"),
    ("mps", 1, False, "torch sees no Apple MPS device"),
    ("tpu", 1, True, "unknown device 'tpu'; choose auto, cpu, cuda, cuda:N or mps"),
    ("cuda:x", 1, False, "unknown device 'cuda:x'"),
])
def test_a_device_that_is_not_there_is_a_one_line_error(gpus, name, count, mps, message):
    gpus(count, mps=mps)
    with pytest.raises(GentextError, match=message):
        devices.resolve_device(name)


def test_precision_auto_is_bf16_where_the_gpu_has_it_else_fp16_and_fp32_off_the_gpu(gpus):
    gpus(1, bf16=True)
    assert devices.mixed_precision("auto", "cuda") == "bf16"
    assert devices.mixed_precision("fp16", "cuda:0") == "fp16"
    gpus(1, bf16=False)  # a T4 or V100: no bf16 in hardware
    assert devices.mixed_precision("auto", "cuda") == "fp16"
    with pytest.raises(GentextError, match=r"\(Tesla T4\) has no bf16 in hardware"):
        devices.mixed_precision("bf16", "cuda")
    for device in ("cpu", "mps"):
        assert devices.mixed_precision("auto", device) == "no"
        assert devices.mixed_precision("fp32", device) == "no"
    assert devices.mixed_precision("bf16", "cpu") == "bf16"
    with pytest.raises(GentextError, match="fp16 needs a GPU"):
        devices.mixed_precision("fp16", "cpu")
    with pytest.raises(GentextError, match="unknown train.precision 'half'; choose one of auto"):
        devices.mixed_precision("half", "cpu")


def test_cli_refuses_a_missing_gpu_and_a_cpu_fp16_run_without_writing(cli, corpus, tmp_path,
                                                                     tiny_args, gpus):
    gpus(0)
    result = cli(*tiny_args("gpt", corpus, tmp_path / "a", options=["--device", "cuda:0"]))
    assert result.exit_code != 0 and "sees no CUDA device" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    result = cli(*tiny_args("gpt", corpus, tmp_path / "b", "--set", "train.precision=fp16"))
    assert result.exit_code != 0 and "fp16 needs a GPU" in result.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_bf16_autocast_on_the_cpu_trains_close_to_fp32(corpus, tiny_overrides, tmp_path):
    """bf16 changes the training arithmetic (the losses differ) but not what is learnt."""
    losses = {}
    for precision in ("fp32", "bf16"):
        config = assemble_config("gpt", overrides=[
            f"data.source={corpus}", *tiny_overrides("gpt"), "model.dropout=0",
            "train.steps=4", "train.eval_every=4", f"train.precision={precision}"])
        train(config, tmp_path / precision, progress=False)
        losses[precision] = [r["loss"] for r in MetricsLog(tmp_path / precision /
                                                           "metrics.jsonl").rows("train")]
    assert losses["fp32"] != losses["bf16"]
    assert max(abs(a - b) for a, b in zip(losses["fp32"], losses["bf16"])) < 0.1


def test_a_torch_older_than_the_floor_is_one_line_naming_it():
    from gentext.training.torch_floor import check_torch

    check_torch("2.9.0+cu128")
    check_torch("2.13.0")
    with pytest.raises(GentextError, match=r"torch >= 2\.9.*torch 2\.8\.0 is installed"):
        check_torch("2.8.0")


def test_the_cli_refuses_an_old_torch_before_anything_runs(monkeypatch, capsys):
    from gentext_cli import app

    monkeypatch.setattr("gentext.training.torch_floor.version", lambda name: "2.2.1")
    with pytest.raises(SystemExit) as exit_info:
        app.main(["models"])
    assert exit_info.value.code != 0
    assert capsys.readouterr().err.strip().count("\n") == 0
