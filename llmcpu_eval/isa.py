"""Instruction sets: ways of turning text into the ids a model runs.

Every ISA works over the host tokenizer's vocabulary, is defined by its
spec string alone (the same text gives the same ids on every machine),
is exactly reversible (``decode(encode(text)) == text`` wherever the
host tokenizer itself is lossless) and never emits or renumbers special
tokens.

>>> isa = build_isa("chars", tokenizer)          # doctest: +SKIP
>>> isa.encode("Hi!")                            # doctest: +SKIP
[39, 74, 0]
"""

import hashlib
import weakref
from collections.abc import Sequence

import numpy as np

from llmcpu_eval.spec import ISASpec, parse_spec
from llmcpu_eval.vocab import ByteVocab, build_byte_vocab

_MASK64 = (1 << 64) - 1


class ISAEncodeError(ValueError):
    """Text that an ISA cannot express in the host vocabulary."""


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 mixing function over uint64 arrays (wraps mod 2**64)."""
    x = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class SplitMix:
    """A tiny seeded generator, stable across Python and numpy versions."""

    def __init__(self, seed: int):
        self.state = seed & _MASK64

    def next64(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def random(self) -> float:
        return (self.next64() >> 11) * (1.0 / (1 << 53))

    def below(self, n: int) -> int:
        return self.next64() % n


def text_seed(seed: int, p: float, text: str) -> int:
    """A 64-bit seed that depends only on the spec and the text itself."""
    key = f"{seed}\x00{p!r}\x00{text}".encode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "little")


class ISA:
    """Base class: an ISA turns text into host-vocabulary ids and back."""

    def __init__(self, spec: ISASpec, tokenizer):
        self.spec = spec
        self.tokenizer = tokenizer

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def is_native(self) -> bool:
        return self.spec.name == "native"

    def __str__(self) -> str:
        return str(self.spec)

    def __repr__(self) -> str:
        return f"<ISA {self.spec}>"

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError(f"{type(self).__name__}.encode")

    def decode(self, ids: Sequence[int]) -> str:
        raise NotImplementedError(f"{type(self).__name__}.decode")

    def _host_encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def _host_decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(
            list(ids),
            skip_special_tokens=False,
            clean_up_tokenization_spaces=False,
        )


class NativeISA(ISA):
    """The host tokenizer's own canonical ids."""

    def encode(self, text):
        return self._host_encode(text)

    def decode(self, ids):
        return self._host_decode(ids)


def permutation(size: int, special_ids, seed: int) -> np.ndarray:
    """Seeded renumbering of every non-special id below ``size``.

    Special ids map to themselves. The order comes from splitmix64
    keys, not from a library shuffle, so it never changes.

    >>> permutation(4, {0}, seed=0)[0]
    0
    """
    ids = np.arange(size, dtype=np.int64)
    movable = np.array([i for i in range(size) if i not in special_ids], dtype=np.int64)
    salt = splitmix64(np.array([seed], dtype=np.uint64))[0]
    keys = splitmix64(movable.astype(np.uint64) ^ salt)
    order = np.argsort(keys, kind="stable")
    ids[movable] = movable[order]
    return ids


class PermutedISA(ISA):
    """Canonical segmentation, every non-special id renumbered."""

    def __init__(self, spec, tokenizer):
        super().__init__(spec, tokenizer)
        special = set(tokenizer.all_special_ids)
        added = tokenizer.added_tokens_decoder
        special |= {i for i, t in added.items() if t.special}
        self.forward = permutation(len(tokenizer), special, spec.get("seed"))
        self.inverse = np.argsort(self.forward)
        self._fwd = self.forward.tolist()
        self._inv = self.inverse.tolist()

    def encode(self, text):
        fwd = self._fwd
        return [fwd[i] for i in self._host_encode(text)]

    def decode(self, ids):
        inv, size = self._inv, len(self._inv)
        return self._host_decode([inv[i] if i < size else i for i in ids])


class _ByteISA(ISA):
    """Shared base of the ISAs that work from the host's byte table."""

    def __init__(self, spec, tokenizer, vocab: ByteVocab):
        super().__init__(spec, tokenizer)
        self.vocab = vocab

    def decode(self, ids):
        return self.vocab.decode(ids)

    def _byte_id(self, byte: int, char: str) -> int:
        tid = self.vocab.byte_ids[byte]
        if tid is None:
            raise ISAEncodeError(
                f"ISA {self.spec} cannot encode the character {char!r} "
                f"(U+{ord(char):04X}): the host vocabulary "
                f"({self.vocab.family}) has no token for it and no token "
                f"for its byte 0x{byte:02X} (no byte fallback). Use a "
                "tokenizer with byte fallback, or the native or permuted ISA."
            )
        return tid


class CharsISA(_ByteISA):
    """Every character its own token; its bytes where there is none."""

    def encode(self, text):
        lookup = self.vocab.bytes_id
        ids = []
        for char in text:
            raw = char.encode("utf-8")
            tid = lookup.get(raw)
            if tid is not None:
                ids.append(tid)
            else:
                ids.extend(self._byte_id(b, char) for b in raw)
        return ids


class BytesISA(_ByteISA):
    """Every UTF-8 byte its own token."""

    def encode(self, text):
        ids = []
        for char in text:
            ids.extend(self._byte_id(b, char) for b in char.encode("utf-8"))
        return ids


class DropoutISA(_ByteISA):
    """A random valid segmentation, BPE-dropout style.

    Start from the canonical segmentation; each token is split, with
    probability ``p``, at a random point where both halves are tokens,
    and each half again. The generator is seeded by the spec and the
    text, so a document gets the same ids in any batch and any run.
    """

    def __init__(self, spec, tokenizer, vocab):
        super().__init__(spec, tokenizer, vocab)
        self.p = spec.get("p")
        self.seed = spec.get("seed")

    def _base(self, text: str) -> list[bytes]:
        """Canonical pieces as bytes, or greedy pieces if they don't line up."""
        pieces = [self.vocab.id_bytes[i] for i in self._host_encode(text)]
        raw = text.encode("utf-8")
        if b"".join(pieces) == raw:
            return pieces
        # The host normalises or adds a prefix space: segment the raw
        # text greedily (longest known piece first) instead.
        lookup, out, start = self.vocab.bytes_id, [], 0
        longest = 32
        while start < len(raw):
            for end in range(min(len(raw), start + longest), start, -1):
                if raw[start:end] in lookup:
                    break
            else:
                char = raw[start:].decode("utf-8", "replace")[:1]
                self._byte_id(raw[start], char)
                end = start + 1
            out.append(raw[start:end])
            start = end
        return out

    def _split(self, piece: bytes, rng: SplitMix, out: list[bytes]):
        lookup = self.vocab.bytes_id
        if len(piece) > 1 and rng.random() < self.p:
            cuts = [
                k
                for k in range(1, len(piece))
                if piece[:k] in lookup and piece[k:] in lookup
            ]
            if cuts:
                k = cuts[rng.below(len(cuts))]
                self._split(piece[:k], rng, out)
                self._split(piece[k:], rng, out)
                return
        out.append(piece)

    def encode(self, text):
        rng = SplitMix(text_seed(self.seed, self.p, text))
        pieces: list[bytes] = []
        for piece in self._base(text):
            self._split(piece, rng, pieces)
        lookup = self.vocab.bytes_id
        ids = []
        for piece in pieces:
            tid = lookup.get(piece)
            if tid is None:
                char = piece.decode("utf-8", "replace")[:1]
                ids.extend(self._byte_id(b, char) for b in piece)
            else:
                ids.append(tid)
        return ids


_BYTE_ISAS = {"chars": CharsISA, "bytes": BytesISA, "dropout": DropoutISA}
_VOCABS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def byte_vocab(tokenizer) -> ByteVocab:
    """The byte table of ``tokenizer``, read once per tokenizer object."""
    try:
        return _VOCABS[tokenizer]
    except (KeyError, TypeError):
        pass
    vocab = build_byte_vocab(tokenizer)
    try:
        _VOCABS[tokenizer] = vocab
    except TypeError:
        pass
    return vocab


def build_isa(spec: "str | ISASpec", tokenizer) -> ISA:
    """Build the ISA named by ``spec`` over a host tokenizer."""
    spec = parse_spec(spec)
    if spec.name == "native":
        return NativeISA(spec, tokenizer)
    if spec.name == "permuted":
        return PermutedISA(spec, tokenizer)
    cls = _BYTE_ISAS[spec.name]
    return cls(spec, tokenizer, byte_vocab(tokenizer))
