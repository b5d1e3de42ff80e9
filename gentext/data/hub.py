"""The Hugging Face hub, reached only when a user names it and never left to hang.

A hub name is written ``hf:NAME`` (``--data hf:wikitext``, ``data.tokenizer=hf:gpt2``;
``gentext import`` takes a bare name too). NAME is a local folder in hub layout when one
exists at that path, else a hub id: the local cache answers first, and the network is tried
only when the hub answers a 3-second connection; otherwise (offline, no cache) the user
gets one line saying so and how to point at a local folder instead, not the libraries'
45-second hang and a traceback.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from gentext.errors import GentextError

PREFIX = "hf:"
CONNECT_SECONDS = 3.0


def hub_name(source: str) -> str | None:
    """NAME of an ``hf:NAME`` source, or None for anything else."""
    return source[len(PREFIX):] if isinstance(source, str) and source.startswith(PREFIX) else None


def local_folder(name: str) -> Path | None:
    """``name`` as an existing local folder, or None when it is (taken as) a hub id."""
    path = Path(name).expanduser()
    return path if path.is_dir() else None


def _offline_by_environment() -> bool:
    return any(os.environ.get(v, "").upper() in ("1", "ON", "YES", "TRUE")
               for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"))


def reachable() -> bool:
    """Whether the hub's endpoint answers a TCP connection within ``CONNECT_SECONDS``."""
    if _offline_by_environment():
        return False
    from huggingface_hub import constants  # its ENDPOINT honours HF_ENDPOINT

    endpoint = urlparse(constants.ENDPOINT)
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=CONNECT_SECONDS).close()
        return True
    except OSError:
        return False


def go_offline() -> None:
    """Make huggingface_hub and datasets answer from the local cache only, at once (they read
    the environment when first imported, so their flags are set too)."""
    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    import huggingface_hub.constants

    huggingface_hub.constants.HF_HUB_OFFLINE = True
    try:
        import datasets.config
    except ImportError:  # pragma: no cover - datasets is a core dependency
        return
    datasets.config.HF_HUB_OFFLINE = datasets.config.HF_DATASETS_OFFLINE = True


def unreachable(name: str, what: str) -> GentextError:
    """The one-line error for a hub id that is neither cached nor reachable."""
    return GentextError(f"{what} {name!r} is not a local folder, not in the Hugging Face cache, "
                        "and the hub cannot be reached (offline); download it once where there "
                        f"is a network (`hf download {name}{' --repo-type dataset' if what == 'dataset' else ''}`) "
                        "or give the path of a local folder in hub layout")


def hub_model_folder(name: str, files: tuple[str, ...] = ("*.json", "*.safetensors", "*.txt")) -> Path:
    """A model or tokenizer ``name`` as a local folder: the folder itself, the cached snapshot,
    or (when the hub answers) a download of ``files`` only, never pickled weights."""
    folder = local_folder(name)
    if folder is not None:
        return folder
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    try:
        return Path(snapshot_download(name, local_files_only=True, allow_patterns=list(files)))
    except HFValidationError as exc:
        raise GentextError(f"{name!r} is neither a local folder (none is there) nor a hub id") from exc
    except Exception:  # noqa: BLE001 - not cached: try the network below
        pass
    if not reachable():
        raise unreachable(name, "model")
    try:
        return Path(snapshot_download(name, allow_patterns=list(files)))
    except Exception as exc:  # noqa: BLE001 - a missing repo, a gated one, a dropped line
        raise GentextError(f"model {name!r} could not be downloaded from the hub: "
                           f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                           ) from exc
