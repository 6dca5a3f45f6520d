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


def _hub_snapshot(repo_id: str) -> Path | None:
    """The local snapshot folder of a hub model already in the cache."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # not a repo id, or not cached: no fingerprint
        return None


def _update(digest, file: Path) -> None:
    target = file.resolve()
    # The hub cache names each large blob after its own sha256: use that
    # name rather than read gigabytes.
    if file.is_symlink() and target.parent.name == "blobs" and len(target.name) == 64:
        digest.update(bytes.fromhex(target.name))
        return
    with target.open("rb") as stream:
        while block := stream.read(1 << 22):
            digest.update(block)


def weights_fingerprint(path, length: int = 16) -> str | None:
    """``sha256:<hex>`` over the contents of every weight file, in name order.

    A hub id is looked up in the local hub cache; None where there is
    nothing to read.
    """
    text = str(path or "")
    if not text:
        return None
    path = Path(text).expanduser()
    if not path.exists():
        path = _hub_snapshot(text) if text.count("/") == 1 else None
        if path is None:
            return None
    files = weight_files(path)
    if not files:
        return None
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0")
        _update(digest, file)
    return "sha256:" + digest.hexdigest()[:length]
