"""Train microcode: a PEFT adapter that teaches a model one ISA.

The causal LM objective on corpus text encoded in the ISA, with
transformers' Trainer (so ``accelerate launch`` trains on several
GPUs), peft's LoRA and, where the ISA renumbers ids, trainable
embedding rows. Checkpoints every ``save_every`` steps; ``resume``
continues from the last complete one and ends with the same adapter
as an uninterrupted run with the same seed.
"""

import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from llmcpu_eval.spec import ISASpecError, canonical

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
CURVE_FILE = "learning_curve.json"
# ISAs that renumber ids: their rows of the embedding (and output head)
# must be relearnt, which a low-rank update cannot do.
RENUMBERING_ISAS = {"permuted"}
SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup")


@dataclass
class TrainConfig:
    """Everything one microcode run depends on."""

    isa: str
    output_path: str
    model: str | None = None
    corpus: list[str] = field(default_factory=lambda: ["bundled"])
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    target_modules: str = "all-linear"
    train_embeddings: str = "auto"
    max_tokens: int = 1_000_000
    learning_rate: float = 1e-3
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.05
    batch_size: int = 8
    seq_len: int = 256
    seed: int = 0
    save_every: int = 50
    eval_every: int = 25
    heldout_bytes: int = 8000
    load_in_4bit: bool = False
    resume: bool = False
    overwrite: bool = False

    def __post_init__(self):
        problems = []
        try:
            self.isa = canonical(self.isa)
        except ISASpecError as err:
            problems.append(f"--isa: {err}")
        for name in ("lora_r", "max_tokens", "batch_size", "seq_len"):
            if getattr(self, name) < 1:
                problems.append(f"--{name}={getattr(self, name)} must be 1 or more")
        for name in ("save_every", "eval_every", "heldout_bytes"):
            if getattr(self, name) < 1:
                problems.append(f"--{name}={getattr(self, name)} must be 1 or more")
        if not 0.0 <= self.lora_dropout < 1.0:
            problems.append(f"--lora_dropout={self.lora_dropout} must be in [0, 1)")
        if not 0.0 <= self.warmup_ratio < 1.0:
            problems.append(f"--warmup_ratio={self.warmup_ratio} must be in [0, 1)")
        if self.learning_rate <= 0:
            problems.append(f"--learning_rate={self.learning_rate} must be positive")
        if self.lr_scheduler not in SCHEDULERS:
            problems.append(
                f"--lr_scheduler={self.lr_scheduler!r} is not one of "
                f"{', '.join(SCHEDULERS)}"
            )
        if self.train_embeddings not in ("auto", "yes", "no"):
            problems.append(
                f"--train_embeddings={self.train_embeddings!r} must be auto, yes or no"
            )
        if self.resume and self.overwrite:
            problems.append("--resume and --overwrite exclude each other; pick one")
        if problems:
            raise ValueError("Bad training settings: " + "; ".join(problems) + ".")

    @property
    def steps(self) -> int:
        return math.ceil(self.max_tokens / (self.batch_size * self.seq_len))

    @property
    def embeddings(self) -> bool:
        if self.train_embeddings == "auto":
            return self.isa.partition(":")[0] in RENUMBERING_ISAS
        return self.train_embeddings == "yes"

    def hyperparameters(self) -> dict:
        out = asdict(self)
        for key in ("output_path", "model", "corpus", "isa", "resume", "overwrite"):
            out.pop(key)
        out["train_embeddings"] = self.embeddings
        out["steps"] = self.steps
        return out


# ---------------------------------------------------------------- output folder


def last_checkpoint(out: Path) -> Path | None:
    """The newest checkpoint that was written completely."""
    folder = out / CHECKPOINTS
    if not folder.is_dir():
        return None
    done = [
        p
        for p in folder.glob("checkpoint-*")
        if (p / "trainer_state.json").is_file() and p.name[11:].isdigit()
    ]
    return max(done, key=lambda p: int(p.name[11:]), default=None)


def prepare_output(config: TrainConfig) -> Path | None:
    """Check the output folder; return the checkpoint to resume from."""
    from llmcpu_eval.microcode import MANIFEST

    out = Path(config.output_path)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--output_path {out} is a file; give a folder.")
    busy = out.is_dir() and any(out.iterdir())
    if config.resume:
        if (out / MANIFEST).is_file():
            raise ValueError(
                f"{out} already holds a finished adapter; nothing to resume. "
                "Pass --overwrite to train it again."
            )
        checkpoint = last_checkpoint(out)
        if checkpoint is None:
            logger.warning("--resume: no checkpoint in %s, starting from step 0", out)
        return checkpoint
    if busy and not config.overwrite:
        raise FileExistsError(
            f"--output_path {out} exists and is not empty; pass --overwrite to "
            "replace it, or --resume to continue an interrupted run."
        )
    if busy:
        logger.warning("--overwrite: removing the previous contents of %s", out)
        shutil.rmtree(out)
    return None


# ---------------------------------------------------------------- data


def pack(isa, documents, seq_len: int, separator: int):
    """Encode documents under the ISA and cut the stream into blocks.

    Returns a (blocks, seq_len) LongTensor; the tail that does not fill
    a block is dropped.
    """
    import torch
    from tqdm.auto import tqdm

    stream = []
    for doc in tqdm(documents, desc=f"Encoding corpus ({isa})", leave=False):
        stream += isa.encode(doc)
        stream.append(separator)
    n = len(stream) // seq_len
    if n == 0:
        raise ValueError(
            f"The corpus gives {len(stream)} ids under ISA {isa}, fewer than "
            f"one block of --seq_len={seq_len}; pass more text or a shorter "
            "--seq_len."
        )
    return torch.tensor(stream[: n * seq_len], dtype=torch.long).view(n, seq_len)


class Blocks:
    """A map-style dataset of packed blocks, as the Trainer wants."""

    def __init__(self, blocks):
        self.blocks = blocks

    def __len__(self):
        return len(self.blocks)

    def __getitem__(self, n):
        ids = self.blocks[n]
        return {"input_ids": ids, "labels": ids.clone()}


class HeldOut:
    """Held-out text and its bits per byte under the model.

    Every id of every document is predicted exactly once: each document
    starts with ``start`` and is cut into windows of ``seq_len`` + 1
    that overlap by one id.
    """

    def __init__(self, isa, documents, seq_len, start, max_bytes):
        docs, used = [], 0
        for doc in documents:
            size = len(doc.encode("utf-8"))
            if used + size > max_bytes and docs:
                break
            docs.append(doc)
            used += size
        self.n_bytes = used
        self.windows = []
        for doc in docs:
            ids = [start] + isa.encode(doc)
            for k in range(0, len(ids) - 1, seq_len):
                self.windows.append(ids[k : k + seq_len + 1])

    def bits_per_byte(self, model, batch_size: int) -> float:
        import torch

        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        nats = 0.0
        with torch.no_grad():
            for k in range(0, len(self.windows), batch_size):
                rows = self.windows[k : k + batch_size]
                width = max(len(r) for r in rows)
                ids = torch.zeros((len(rows), width), dtype=torch.long)
                labels = torch.full((len(rows), width), -100, dtype=torch.long)
                for n, row in enumerate(rows):
                    ids[n, : len(row)] = torch.tensor(row)
                    labels[n, 1 : len(row)] = torch.tensor(row[1:])
                logits = model(input_ids=ids.to(device)).logits.float()
                # (B, T, V) predicts position t + 1 from t
                loss = torch.nn.functional.cross_entropy(
                    logits[:, :-1].reshape(-1, logits.size(-1)),
                    labels[:, 1:].reshape(-1).to(device),
                    ignore_index=-100,
                    reduction="sum",
                )
                nats += loss.item()
        model.train(was_training)
        return nats / math.log(2) / self.n_bytes


# ---------------------------------------------------------------- callbacks


def _callbacks(config: TrainConfig, heldout: HeldOut, tokens_per_step: int):
    from transformers import ProgressCallback, TrainerCallback

    class CurveCallback(TrainerCallback):
        """Held-out bits per byte into the log history (and checkpoints)."""

        def _measure(self, state, model):
            start = time.monotonic()
            bpb = heldout.bits_per_byte(model, config.batch_size)
            state.log_history.append(
                {
                    "step": state.global_step,
                    "tokens": state.global_step * tokens_per_step,
                    "heldout_bpb": bpb,
                    "seconds": round(time.monotonic() - start, 3),
                }
            )
            logger.info("step %d: held-out %.4f bits/byte", state.global_step, bpb)

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            if not any("heldout_bpb" in e for e in state.log_history):
                self._measure(state, model)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            step = state.global_step
            if step % config.eval_every == 0 or step == state.max_steps:
                self._measure(state, model)

    class Progress(ProgressCallback):
        """One bar: loss, tokens/s and time left, no log lines."""

        def on_train_begin(self, args, state, control, **kwargs):
            super().on_train_begin(args, state, control, **kwargs)
            self._start, self._first = time.monotonic(), state.global_step

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or self.training_bar is None:
                return
            done = (state.global_step - self._first) * tokens_per_step
            rate = done / max(time.monotonic() - self._start, 1e-9)
            postfix = {"tok/s": f"{rate:.0f}"}
            if logs and "loss" in logs:
                postfix["loss"] = f"{logs['loss']:.3f}"
            self.training_bar.set_postfix(postfix, refresh=False)

    return [CurveCallback(), Progress()]


# ---------------------------------------------------------------- model


def load_base(config: TrainConfig):
    """(model, tokenizer, resolved path) of the base model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmcpu_eval import default_model as embedded

    path = config.model
    if embedded.is_embedded(path):
        path = str(embedded.embedded_model_path(path))
    kwargs = {}
    if not torch.cuda.is_available():
        # bfloat16 matmuls are several times slower on most CPUs.
        kwargs["dtype"] = torch.float32
    if config.load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=kwargs.get("dtype", torch.bfloat16),
        )
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if config.load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        _keep_4bit_weights_differentiable(model)
    return model, tokenizer, path


def _keep_4bit_weights_differentiable(model) -> None:
    """Stop bitsandbytes repacking 4-bit weights for CPU inference.

    On CPUs with AVX512-BF16, a Linear4bit forward in eval mode without
    gradients repacks its weight for the gemv_4bit kernel, and every later
    forward uses that kernel, which has no backward: gradients through the
    frozen layers silently become zero once the held-out set has been
    measured (bitsandbytes 0.50.2, measured in the tests).
    """
    import bitsandbytes as bnb

    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False


def peft_config(config: TrainConfig, model):
    from peft import LoraConfig

    targets = config.target_modules
    if targets != "all-linear":
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    saved = None
    tied = bool(getattr(model.config, "tie_word_embeddings", False))
    if config.embeddings:
        # A tied output head follows the embedding; an untied one is
        # renumbered too, so it trains as well.
        saved = ["embed_tokens"] if tied else ["embed_tokens", "lm_head"]
    return LoraConfig(
        task_type="CAUSAL_LM",
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        modules_to_save=saved,
        ensure_weight_tying=tied and config.embeddings,
    )


# ---------------------------------------------------------------- training


def train(config: TrainConfig) -> Path:
    """Train microcode for ``config.isa``; return the adapter folder."""
    import torch
    import transformers
    from peft import get_peft_model

    from llmcpu_eval import microcode
    from llmcpu_eval.corpus import load_corpus
    from llmcpu_eval.isa import build_isa

    checkpoint = prepare_output(config)
    out = Path(config.output_path)
    transformers.set_seed(config.seed)
    corpus = load_corpus(config.corpus)
    train_docs, heldout_docs = corpus.split()

    model, tokenizer, base_path = load_base(config)
    isa = build_isa(config.isa, tokenizer)
    separator = tokenizer.eos_token_id
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else separator
    blocks = pack(isa, train_docs, config.seq_len, separator)
    heldout = HeldOut(isa, heldout_docs, config.seq_len, start, config.heldout_bytes)
    logger.info(
        "Corpus %s: %d blocks of %d ids under %s; %d steps of %d blocks",
        " ".join(config.corpus), len(blocks), config.seq_len, isa,
        config.steps, config.batch_size,
    )  # fmt: skip

    model = get_peft_model(model, peft_config(config, model))
    tokens_per_step = config.batch_size * config.seq_len
    args = transformers.TrainingArguments(
        output_dir=str(out / CHECKPOINTS),
        per_device_train_batch_size=config.batch_size,
        max_steps=config.steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=round(config.warmup_ratio * config.steps),
        weight_decay=0.0,
        logging_steps=max(1, min(10, config.eval_every)),
        save_strategy="steps",
        save_steps=config.save_every,
        save_total_limit=2,
        seed=config.seed,
        data_seed=config.seed,
        report_to=[],
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    tokens_per_step *= args.world_size
    trainer = transformers.Trainer(
        model=model,
        args=args,
        train_dataset=Blocks(blocks),
        data_collator=transformers.default_data_collator,
        callbacks=_callbacks(config, heldout, tokens_per_step),
    )
    # The progress bar shows the loss; no log lines beside it.
    trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
    started = time.monotonic()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    seconds = time.monotonic() - started

    if trainer.is_world_process_zero():
        curve = learning_curve(trainer.state.log_history)
        model.save_pretrained(out, safe_serialization=True)
        microcode.write_adapter_files(
            out, config, base_path, corpus, curve, seconds, tokens_per_step
        )
        shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
    return out


def learning_curve(log_history: list[dict]) -> dict:
    """Training loss and held-out bits per byte against tokens seen."""
    train, heldout = [], []
    for entry in log_history:
        if "heldout_bpb" in entry:
            keys = ("step", "tokens", "heldout_bpb", "seconds")
            heldout.append({k: entry[k] for k in keys if k in entry})
        elif "loss" in entry:
            train.append({"step": entry["step"], "loss": entry["loss"]})
    return {"train": train, "heldout": heldout}


def plot_curve(curve: dict, tokens_per_step: int, title: str) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=110)
    steps = [p["step"] * tokens_per_step for p in curve["train"]]
    left.plot(steps, [p["loss"] for p in curve["train"]], color="tab:blue")
    left.set(xlabel="tokens seen", ylabel="training loss (nats/token)")
    right.plot(
        [p["tokens"] for p in curve["heldout"]],
        [p["heldout_bpb"] for p in curve["heldout"]],
        marker="o",
        color="tab:red",
    )
    right.set(xlabel="tokens seen", ylabel="held-out bits per byte")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
