"""The oldest torch gentext runs on, checked from the installed package's metadata (without
importing torch, so the CLI stays quick): an older torch installs fine and would otherwise
fail at the first step of the default model, far from the cause.

The floor is torch 2.9, the oldest release the suite was run on and passed (2026-12-07): its
tests check gentext's Muon against ``torch.optim.Muon``, which first ships in 2.9 (2.8.0 fails
them, and failed the default model when gentext used torch's Muon). Among what gentext calls,
FSDP2's ``set_reshard_after_forward`` needs 2.8, the public ``fully_shard`` 2.6,
``nn.RMSNorm`` 2.4.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version

from gentext.errors import GentextError

TORCH_FLOOR = (2, 9)


def check_torch(installed: str | None = None) -> None:
    """A one-line error when the installed torch is older than the floor."""
    if installed is None:
        try:
            installed = version("torch")
        except PackageNotFoundError:
            raise GentextError("torch is not installed: pip install 'torch>="
                               f"{'.'.join(map(str, TORCH_FLOOR))}'") from None
    match = re.match(r"(\d+)\.(\d+)", installed)
    if match and (int(match.group(1)), int(match.group(2))) < TORCH_FLOOR:
        floor = ".".join(map(str, TORCH_FLOOR))
        raise GentextError(f"gentext needs torch >= {floor}, but torch "
                           f"{installed} is installed: pip install 'torch>={floor}'")
