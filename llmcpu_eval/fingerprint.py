"""A short, stable fingerprint of a model's weight files.

Results and leaderboards name the exact weights they measured, also for
local folders and converted checkpoints, which have no hub revision.

>>> weights_fingerprint("~/.cache/llmcpu-eval/models/gemma-3-270m")  # doctest: +SKIP
'sha256:8f1c0d...'
"""

import hashlib
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")


def weight_files(path: Path) -> list[Path]:
    """The weight files of a checkout folder (or the file itself)."""
    if path.is_file():
        return [path]
    found = [p for p in path.iterdir() if p.suffix in WEIGHT_SUFFIXES]
    return sorted(p for p in found if p.is_file())


def weights_fingerprint(path, length: int = 16) -> str | None:
    """``sha256:<hex>`` over the bytes of every weight file, in name order.

    None where ``path`` is not a local file or folder (a hub id).
    """
    path = Path(str(path)).expanduser()
    if not path.exists():
        return None
    files = weight_files(path)
    if not files:
        return None
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0")
        with file.open("rb") as stream:
            while block := stream.read(1 << 22):
                digest.update(block)
    return "sha256:" + digest.hexdigest()[:length]
