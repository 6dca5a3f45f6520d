"""The lm-eval task class behind every ISA task.

An ISA task is an upstream benchmark config plus ``class: ISATask`` and
``metadata.llmcpu_isa``. The class canonicalises the ISA spec (so the
results JSON shows every parameter), loads the data with an offline
fallback, registers which ISA the task runs under, and refuses to
build requests for a model that cannot apply ISAs.
"""

import logging
import weakref

from lm_eval.api.task import ConfigurableTask

from llmcpu_eval.data import load_benchmark_with_source
from llmcpu_eval.spec import canonical

logger = logging.getLogger(__name__)

# Task metadata keys. Model args are merged into every task's metadata
# and win over the YAML's keys, so the keys carry a unique prefix.
ISA_KEY = "llmcpu_isa"
DATA_KEY = "llmcpu_data"
MICROCODE_KEY = "llmcpu_microcode"
MICROCODE_FINGERPRINT_KEY = "llmcpu_microcode_fingerprint"

# task name -> canonical ISA spec, for every ISA task built in this process.
TASK_ISAS: dict[str, str] = {}

# task name -> (microcode folder, adapter fingerprint), or None for a
# bare run; filled by the llmcpu model as it scores each task.
TASK_MICROCODE: dict[str, tuple[str, str] | None] = {}

# llmcpu models alive in this process (filled by llmcpu_eval.model).
LIVE_MODELS: "weakref.WeakSet" = weakref.WeakSet()


class ISATask(ConfigurableTask):
    """A ConfigurableTask that runs its benchmark under one ISA."""

    def __init__(self, config: dict | None = None, **kwargs):
        config = dict(config or {})
        config.pop("class", None)
        name = config.get("task", "?")
        metadata = dict(config.get("metadata") or {})
        if ISA_KEY not in metadata:
            raise ValueError(
                f"Task {name!r} uses class ISATask but its YAML has no "
                f"metadata.{ISA_KEY}; add e.g. '{ISA_KEY}: permuted'."
            )
        spec = canonical(metadata[ISA_KEY])
        metadata[ISA_KEY] = spec
        config["metadata"] = metadata
        super().__init__(config=config, **kwargs)
        TASK_ISAS[self.config.task] = spec

    @property
    def isa_spec(self) -> str:
        return self.config.metadata[ISA_KEY]

    def download(self, dataset_kwargs=None, **kwargs) -> None:
        self.dataset, source = load_benchmark_with_source(
            self.config.dataset_path,
            self.config.dataset_name,
            dataset_kwargs,
        )
        # In the results JSON: scores on bundled rows cover only the
        # start of the benchmark.
        self.config.metadata[DATA_KEY] = source
        # Offline data holds only the evaluation split (and sometimes a
        # validation split); forget splits that are not there.
        for attr in ("training_split", "validation_split", "test_split"):
            split = getattr(self.config, attr)
            if split is not None and split not in self.dataset:
                setattr(self.config, attr, None)
        if self.config.fewshot_split not in (None, *self.dataset):
            self.config.fewshot_split = None

    def dump_config(self) -> dict:
        config = super().dump_config()
        name = self.config.task
        if name in TASK_MICROCODE:
            metadata = config.setdefault("metadata", {})
            used = TASK_MICROCODE[name]
            metadata[MICROCODE_KEY] = used[0] if used else "bare"
            metadata[MICROCODE_FINGERPRINT_KEY] = used[1] if used else None
        return config

    def build_all_requests(self, *args, **kwargs):
        if not LIVE_MODELS:
            raise RuntimeError(
                f"Task {self.config.task!r} runs under ISA {self.isa_spec!r}, "
                "which the model in use cannot apply: it would score the "
                "native ids instead. Run it with --model llmcpu (the "
                "llmcpu-eval wrapper around HFLM), e.g. lm_eval --model "
                f"llmcpu --tasks {self.config.task}."
            )
        return super().build_all_requests(*args, **kwargs)
