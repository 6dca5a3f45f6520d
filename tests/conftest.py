"""Shared fixtures: real tokenizers of both families and a tiny model.

Tokenizers are trained here on real WikiText text with the
``tokenizers`` library, so tests need no network; the SmolLM2
tokenizer comes from the embedded default model.
"""

import gzip
import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import llmcpu_eval.plugin  # noqa: E402

llmcpu_eval.plugin.install()

SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]


def corpus_lines(limit: int = 400) -> list[str]:
    """Real WikiText-2 text from the bundled data."""
    path = (
        Path(llmcpu_eval.plugin.__file__).parent
        / "data/EleutherAI__wikitext_document_level__wikitext-2-raw-v1"
        / "test.jsonl.gz"
    )
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        pages = [json.loads(line)["page"] for line in fh]
    lines = [ln for page in pages for ln in page.split("\n") if ln.strip()]
    return lines[:limit]


def _wrap(backend, bos="<s>"):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        bos_token=bos,
        eos_token="</s>",
        pad_token="<pad>",
    )


def train_byte_level_bpe(vocab_size: int = 600):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus_lines(), trainer)
    return _wrap(tok)


def train_sentencepiece_bpe(vocab_size: int = 700, byte_fallback: bool = True):
    """A Gemma-style tokenizer: spaces as U+2581, bytes as <0xNN>."""
    from tokenizers import Tokenizer, decoders, models, normalizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=byte_fallback))
    tok.normalizer = normalizers.Replace(" ", "\u2581")
    tok.decoder = decoders.Sequence(
        [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    byte_pieces = [f"<0x{b:02X}>" for b in range(256)] if byte_fallback else []
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS + byte_pieces,
        show_progress=False,
        max_token_length=12,
    )
    tok.train_from_iterator(corpus_lines(), trainer)
    if byte_fallback:
        # Byte pieces must be ordinary vocabulary entries, not added
        # special tokens: drop them from the added-token list.
        spec = json.loads(tok.to_str())
        spec["added_tokens"] = [
            t for t in spec["added_tokens"] if t["content"] in SPECIALS
        ]
        tok = Tokenizer.from_str(json.dumps(spec))
    return _wrap(tok)


@pytest.fixture(scope="session")
def bpe_tokenizer():
    return train_byte_level_bpe()


@pytest.fixture(scope="session")
def sp_tokenizer():
    return train_sentencepiece_bpe()


@pytest.fixture(scope="session")
def sp_nofallback_tokenizer():
    return train_sentencepiece_bpe(byte_fallback=False)


@pytest.fixture(scope="session")
def smollm2_path():
    from llmcpu_eval.default_model import default_model_path

    return default_model_path()


@pytest.fixture(scope="session")
def smollm2_tokenizer(smollm2_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_path)


@pytest.fixture(scope="session", params=["bpe", "sp", "smollm2"])
def any_tokenizer(request):
    """Every tokenizer family the ISAs must support."""
    name = {"bpe": "bpe_tokenizer", "sp": "sp_tokenizer"}.get(
        request.param, "smollm2_tokenizer"
    )
    return request.getfixturevalue(name)


def build_tiny_model(folder: Path, tokenizer, seed: int = 0) -> Path:
    """A randomly initialised 2-layer Llama over ``tokenizer``, saved to ``folder``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, bpe_tokenizer):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-bpe"), bpe_tokenizer)


@pytest.fixture(scope="session")
def tiny_sp_model_dir(tmp_path_factory, sp_tokenizer):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-sp"), sp_tokenizer)
