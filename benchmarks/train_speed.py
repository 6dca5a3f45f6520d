"""Training speed and memory: ``llmcpu-eval train`` vs plain peft + Trainer.

Both runs train the same LoRA (same model, ISA-encoded blocks, batch,
sequence length, learning rate, seed and step count), each in a fresh
process so that peak memory is its own. Prints training tokens/s (over
``Trainer.train``), peak resident memory, and the ratios.

    python benchmarks/train_speed.py                      # SmolLM2, chars
    python benchmarks/train_speed.py --isa permuted --steps 4
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def baseline(args) -> dict:
    """The plain run: the same data through peft + transformers.Trainer."""
    import torch
    import transformers
    from peft import get_peft_model

    from llmcpu_eval.corpus import load_corpus
    from llmcpu_eval.isa import build_isa
    from llmcpu_eval.train import Blocks, TrainConfig, load_base, pack, peft_config

    config = TrainConfig(
        isa=args.isa, output_path=args.out, model=args.model,
        max_tokens=args.steps * args.batch_size * args.seq_len,
        batch_size=args.batch_size, seq_len=args.seq_len,
    )  # fmt: skip
    transformers.set_seed(config.seed)
    model, tokenizer, _ = load_base(config)
    documents, _ = load_corpus(config.corpus).split()
    isa = build_isa(config.isa, tokenizer)
    blocks = pack(isa, documents, config.seq_len, tokenizer.eos_token_id)
    model = get_peft_model(model, peft_config(config, model))
    training = transformers.TrainingArguments(
        output_dir=args.out,
        per_device_train_batch_size=config.batch_size,
        max_steps=config.steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        save_strategy="no",
        report_to=[],
        seed=config.seed,
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=True,
    )
    trainer = transformers.Trainer(
        model=model,
        args=training,
        train_dataset=Blocks(blocks),
        data_collator=transformers.default_data_collator,
    )
    start = time.monotonic()
    trainer.train()
    return {"train_seconds": time.monotonic() - start}


def ours(args) -> dict:
    """The same training through llmcpu-eval's own command."""
    from llmcpu_eval.cli import main as cli

    argv = ["train", "--isa", args.isa, "--output_path", args.out,
            "--max_tokens", str(args.steps * args.batch_size * args.seq_len),
            "--batch_size", str(args.batch_size), "--seq_len", str(args.seq_len),
            "--eval_every", str(10**9), "--save_every", str(10**9)]  # fmt: skip
    if args.model:
        argv += ["--model", args.model]
    if cli(argv) != 0:
        sys.exit("llmcpu-eval train failed")
    manifest = json.loads(Path(args.out, "llmcpu_manifest.json").read_text())
    # Held-out bits per byte (step 0 and the end) is extra work the plain
    # run does not do: time the training itself.
    return {
        "train_seconds": manifest["train_seconds"] - manifest["heldout_seconds"],
        "heldout_seconds": manifest["heldout_seconds"],
    }


def child(kind: str, args, tmp: str) -> dict:
    """Run one side in a fresh process; return its timing and peak RSS."""
    argv = [sys.executable, __file__, "--child", kind, "--out", f"{tmp}/{kind}",
            "--isa", args.isa, "--steps", str(args.steps),
            "--batch_size", str(args.batch_size), "--seq_len", str(args.seq_len)]  # fmt: skip
    if args.model:
        argv += ["--model", args.model]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{kind} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="default: SmolLM2-135M-Instruct")
    parser.add_argument("--isa", default="chars")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--seq_len", type=int, default=256)
    parser.add_argument("--child", choices=("plain", "ours"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        result = (baseline if args.child == "plain" else ours)(args)
        # ru_maxrss is in KiB on Linux.
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    tokens = args.steps * args.batch_size * args.seq_len
    with tempfile.TemporaryDirectory() as tmp:
        plain = child("plain", args, tmp)
        mine = child("ours", args, tmp)

    print(
        f"model {args.model or 'SmolLM2-135M-Instruct'}, ISA {args.isa}, "
        f"{args.steps} steps x {args.batch_size} x {args.seq_len} = {tokens} tokens"
    )
    for name, run in (("plain peft + Trainer", plain), ("llmcpu-eval train", mine)):
        print(
            f"{name:22s} {tokens / run['train_seconds']:8.1f} tokens/s  "
            f"peak RSS {run['peak_mb']:7.0f} MB"
        )
    print(
        f"speed ratio (llmcpu / plain): {plain['train_seconds'] / mine['train_seconds']:.3f}"
        " (goal >= 1), training steps only; llmcpu-eval train also spent "
        f"{mine['heldout_seconds']:.1f} s on held-out bits per byte"
    )
    print(
        f"memory ratio (llmcpu / plain): {mine['peak_mb'] / plain['peak_mb']:.3f} (goal <= 1)"
    )


if __name__ == "__main__":
    main()
