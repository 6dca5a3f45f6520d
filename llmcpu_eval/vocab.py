"""What each id of a host tokenizer means as raw bytes.

ISAs that re-segment text (chars, bytes, dropout) need to know, for
every id of the host vocabulary, which bytes it stands for, and which
id stands for a given byte string. This module reads that off the two
tokenizer families in use:

- byte-level BPE (GPT-2, SmolLM2, Llama 3): token strings spell bytes
  through a fixed byte-to-character table;
- SentencePiece style (Llama 2, Gemma): ``\u2581`` stands for a space,
  and with byte fallback ``<0x41>`` stands for the byte 0x41.
"""

import json
import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache

logger = logging.getLogger(__name__)

BYTE_LEVEL = "byte-level BPE"
SENTENCEPIECE = "SentencePiece"
SPACE_MARK = "\u2581"
_BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@lru_cache(maxsize=1)
def byte_level_alphabet() -> dict[str, int]:
    """Map the printable stand-in character of each byte to the byte.

    Bytes that are printable Latin-1 stand for themselves; the rest are
    moved up to U+0100 and beyond, in byte order.

    >>> byte_level_alphabet()["\u0120"]  # the byte-level BPE space
    32
    """
    keep = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("\xa1"), ord("\xac") + 1),
        *range(ord("\xae"), ord("\xff") + 1),
    ]
    alphabet = {chr(b): b for b in keep}
    shifted = 0
    for b in range(256):
        if b not in keep:
            alphabet[chr(256 + shifted)] = b
            shifted += 1
    return alphabet


def _backend_json(tokenizer) -> dict:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise NotImplementedError(
            f"{type(tokenizer).__name__} is a slow (Python) tokenizer; "
            "ISAs need a fast tokenizer. Load it with use_fast=True "
            "(HFLM's default, use_fast_tokenizer=True)."
        )
    return json.loads(backend.to_str())


def _has_type(node, name: str) -> bool:
    """True if a tokenizer.json component, or one in its sequence, is ``name``."""
    if not node:
        return False
    if node.get("type") == name:
        return True
    parts = node.get("decoders") or node.get("pretokenizers") or []
    return any(_has_type(p, name) for p in parts)


def detect_family(tokenizer) -> str:
    """Tell which tokenizer family a fast tokenizer belongs to."""
    spec = _backend_json(tokenizer)
    decoder = spec.get("decoder")
    if _has_type(decoder, "ByteLevel") or _has_type(
        spec.get("pre_tokenizer"), "ByteLevel"
    ):
        return BYTE_LEVEL
    if _has_type(decoder, "Metaspace") or _has_type(decoder, "Replace"):
        return SENTENCEPIECE
    raise NotImplementedError(
        f"Cannot tell the family of tokenizer "
        f"{getattr(tokenizer, 'name_or_path', '?')!r} (decoder "
        f"{(decoder or {}).get('type')!r}). Supported families: "
        f"{BYTE_LEVEL} and {SENTENCEPIECE}; the native and permuted ISAs "
        "still work with any tokenizer."
    )


@dataclass
class ByteVocab:
    """The bytes behind every id of one host tokenizer.

    ``id_bytes[i]`` is what id ``i`` spells; ``bytes_id`` maps a byte
    string back to the id that spells it (ordinary tokens win over byte
    fallback tokens; special tokens are never looked up).
    """

    family: str
    id_bytes: list[bytes]
    special_ids: frozenset[int]
    bytes_id: dict[bytes, int] = field(default_factory=dict)
    byte_ids: list[int | None] = field(default_factory=list)

    def decode(self, ids) -> str:
        """Join the bytes of ``ids`` and read them as UTF-8."""
        raw = b"".join(self.id_bytes[i] for i in ids)
        return raw.decode("utf-8", errors="replace")


def _piece_bytes(piece: str, family: str) -> tuple[bytes, int | None]:
    """Bytes a vocabulary piece spells, and the byte if it is a byte token."""
    if family == BYTE_LEVEL:
        alphabet = byte_level_alphabet()
        if all(c in alphabet for c in piece):
            raw = bytes(alphabet[c] for c in piece)
            return raw, raw[0] if len(raw) == 1 else None
        return piece.encode("utf-8"), None
    match = _BYTE_PIECE.match(piece)
    if match:
        value = int(match.group(1), 16)
        return bytes([value]), value
    return piece.replace(SPACE_MARK, " ").encode("utf-8"), None


def build_byte_vocab(tokenizer) -> ByteVocab:
    """Read the byte table of a fast Hugging Face tokenizer."""
    family = detect_family(tokenizer)
    size = len(tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(list(range(size)))
    added = tokenizer.added_tokens_decoder
    special = frozenset(
        i for i, tok in added.items() if getattr(tok, "special", True)
    ) | frozenset(tokenizer.all_special_ids)

    vocab = ByteVocab(family, [b""] * size, special)
    vocab.byte_ids = [None] * 256
    fallback = {}
    for i, piece in enumerate(pieces):
        if piece is None:
            continue
        if i in added:
            vocab.id_bytes[i] = added[i].content.encode("utf-8")
            if i in special:
                continue
            raw, byte = vocab.id_bytes[i], None
        else:
            raw, byte = _piece_bytes(piece, family)
            vocab.id_bytes[i] = raw
        if byte is not None and vocab.byte_ids[byte] is None:
            vocab.byte_ids[byte] = i
        if family == SENTENCEPIECE and byte is not None:
            fallback.setdefault(raw, i)
        else:
            vocab.bytes_id.setdefault(raw, i)
    for raw, i in fallback.items():
        vocab.bytes_id.setdefault(raw, i)
    # Without byte fallback, an ASCII byte can still be its own piece.
    for b in range(128):
        if vocab.byte_ids[b] is None:
            vocab.byte_ids[b] = vocab.bytes_id.get(bytes([b]))

    missing = sum(b is None for b in vocab.byte_ids)
    if missing:
        logger.info(
            "%s tokenizer %r has no token for %d of 256 bytes "
            "(no byte fallback): text with such bytes cannot be "
            "encoded by the chars and bytes ISAs",
            family,
            getattr(tokenizer, "name_or_path", "?"),
            missing,
        )
    return vocab
