"""Which device a run uses and in which precision it trains: the user's words (``--device``,
``train.precision``) checked against what torch sees, so asking for what is not there is a
one-line error rather than a crash at the first tensor."""

from __future__ import annotations

import re

import torch

from gentext.errors import GentextError

DEVICES = "auto, cpu, cuda, cuda:N or mps"
PRECISIONS = ("auto", "bf16", "fp16", "fp32")


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def resolve_device(name: str) -> str:
    """"auto" picks CUDA when present, else Apple silicon's MPS, else the CPU; a device named
    that torch does not see is an error."""
    name = str(name).strip().lower()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu"
    if name == "cpu":
        return name
    if name == "mps":
        if not mps_available():
            raise GentextError("--device mps was asked for, but torch sees no Apple MPS device")
        return name
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if not match:
        raise GentextError(f"unknown device {name!r}; choose {DEVICES}")
    if not torch.cuda.is_available():
        raise GentextError(f"--device {name} was asked for, but torch sees no CUDA device")
    count = torch.cuda.device_count()
    if match.group(1) is not None and int(match.group(1)) >= count:
        raise GentextError(f"--device {name} was asked for, but torch sees {count} CUDA "
                           f"device{'s' if count > 1 else ''} (cuda:0 to cuda:{count - 1})")
    return name


def device_type(device: str) -> str:
    """"cuda:1" -> "cuda"."""
    return torch.device(device).type


def bf16_is_fast(device: str) -> bool:
    """bf16 in hardware (compute capability 8.0 on: A100, H100, RTX 30xx on), not emulated."""
    return device_type(device) == "cuda" and torch.cuda.is_bf16_supported(
        including_emulation=False)


def mixed_precision(precision: str, device: str) -> str:
    """``train.precision`` as accelerate's ``mixed_precision`` ("no", "bf16" or "fp16").

    auto: bf16 on a GPU that has it, fp16 with loss scaling on one that does not (T4, V100),
    fp32 on the CPU and on MPS. Evaluation log-probabilities are float32 whatever this is."""
    if precision not in PRECISIONS:
        raise GentextError(f"unknown train.precision {precision!r}; choose one of "
                           f"{', '.join(PRECISIONS)}")
    kind = device_type(device)
    if precision == "auto":
        if kind != "cuda":
            return "no"
        return "bf16" if bf16_is_fast(device) else "fp16"
    if precision == "fp32":
        return "no"
    if precision == "fp16" and kind == "cpu":
        raise GentextError("train.precision fp16 needs a GPU (loss scaling is for CUDA); on the "
                           "CPU choose fp32 or bf16")
    if precision == "bf16" and kind == "cuda" and not bf16_is_fast(device):
        raise GentextError(f"this GPU ({torch.cuda.get_device_name(device)}) has no bf16 in "
                           "hardware; choose train.precision fp16 (or auto)")
    return precision
