"""Weight fingerprints: content hashes that name the weights measured."""

import hashlib

from llmcpu_eval.fingerprint import weights_fingerprint


def test_same_weights_same_fingerprint_and_one_byte_changes_it(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"\x00" * 1000)
        (folder / "config.json").write_text("{}")
    (b / "config.json").write_text('{"other": 1}')  # not a weight file

    assert weights_fingerprint(a) == weights_fingerprint(b)
    assert weights_fingerprint(a).startswith("sha256:")
    (b / "model.safetensors").write_bytes(b"\x00" * 999 + b"\x01")
    assert weights_fingerprint(a) != weights_fingerprint(b)


def test_hub_cache_blobs_are_named_by_their_hash_not_read(tmp_path):
    blobs, snapshot = tmp_path / "blobs", tmp_path / "snapshots" / "abc"
    blobs.mkdir()
    snapshot.mkdir(parents=True)
    name = hashlib.sha256(b"weights").hexdigest()
    (blobs / name).write_bytes(b"weights")
    (snapshot / "model.safetensors").symlink_to(blobs / name)
    first = weights_fingerprint(snapshot)

    (blobs / name).write_bytes(b"changed without renaming")
    assert weights_fingerprint(snapshot) == first


def test_nothing_to_read_gives_none(tmp_path):
    assert weights_fingerprint(None) is None
    assert weights_fingerprint("") is None
    assert weights_fingerprint("no-such-org/no-such-model") is None
    assert weights_fingerprint(tmp_path) is None
