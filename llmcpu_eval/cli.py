"""The ``llmcpu-eval`` command line."""

import argparse
import sys

from llmcpu_eval.spec import ISA_DEFAULTS, ISASpecError, canonical

EXAMPLES = """examples:
  llmcpu-eval isas
  llmcpu-eval encode --isa chars "Hello world"
  lm_eval --model llmcpu --tasks isa_piqa --limit 20 --output_path runs/ --log_samples
  llmcpu-eval leaderboard runs/ results/ --output_path results/leaderboard
  llmcpu-eval train --isa chars --max_tokens 200000 \
      --output_path adapters/smollm2-135m-instruct/chars
  lm_eval --model llmcpu --model_args microcode=adapters/smollm2-135m-instruct \
      --tasks isa_chars_piqa
"""


def _isas(args) -> int:
    for name in ISA_DEFAULTS:
        print(canonical(name))
    return 0


def _encode(args) -> int:
    from transformers import AutoTokenizer

    from llmcpu_eval.isa import build_isa

    if args.tokenizer:
        path = args.tokenizer
    else:
        from llmcpu_eval.default_model import default_model_path

        path = default_model_path()
    isa = build_isa(args.isa, AutoTokenizer.from_pretrained(path))
    ids = isa.encode(args.text)
    print(f"{isa}: {len(ids)} ids")
    print(ids)
    return 0


def _leaderboard(args) -> int:
    import logging

    from llmcpu_eval.leaderboard import OUTPUTS, build

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    board = build(args.folders, args.output_path)
    models = sorted({e.model for e in board.entries})
    print(
        f"{len(board.entries)} rows ({len(models)} models: {', '.join(models)}); "
        f"{len(board.replaced)} older duplicates dropped, "
        f"{len(board.skipped)} files skipped"
    )
    for name in OUTPUTS:
        print(f"wrote {args.output_path}/{name}")
    return 0


def _train(args) -> int:
    import logging

    from llmcpu_eval.train import TrainConfig, train

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    for noisy in ("httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = {k: v for k, v in vars(args).items() if k != "command"}
    config = TrainConfig(**settings)
    out = train(config)
    print(f"wrote microcode for {config.isa} to {out}")
    return 0


def _add_train(sub) -> None:
    from llmcpu_eval.train import SCHEDULERS, TrainConfig

    d = TrainConfig(isa="native", output_path="")
    p = sub.add_parser(
        "train",
        help="train microcode (a PEFT adapter) for one ISA",
        description=(
            "Train a LoRA adapter (plus embedding rows where the ISA renumbers "
            "ids) with the causal LM objective on corpus text encoded in the "
            "ISA. Runs under accelerate launch for several GPUs."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", help="hub id, folder or embedded model (default SmolLM2)")
    p.add_argument(
        "--isa", required=True, help="ISA spec, e.g. chars or permuted:seed=0"
    )
    p.add_argument(
        "--corpus", nargs="+", default=d.corpus,
        help="text files, folders, hub datasets (name[:config][@split]) or 'bundled'",
    )  # fmt: skip
    p.add_argument("--output_path", required=True, help="adapter folder to write")
    p.add_argument("--lora_r", type=int, default=d.lora_r)
    p.add_argument("--lora_alpha", type=int, default=d.lora_alpha)
    p.add_argument("--lora_dropout", type=float, default=d.lora_dropout)
    p.add_argument("--target_modules", default=d.target_modules)
    p.add_argument(
        "--train_embeddings", choices=("auto", "yes", "no"), default="auto",
        help="auto: only for ISAs that renumber ids (permuted)",
    )  # fmt: skip
    p.add_argument("--max_tokens", type=int, default=d.max_tokens, help="token budget")
    p.add_argument("--learning_rate", type=float, default=d.learning_rate)
    p.add_argument("--lr_scheduler", choices=SCHEDULERS, default=d.lr_scheduler)
    p.add_argument("--warmup_ratio", type=float, default=d.warmup_ratio)
    p.add_argument("--batch_size", type=int, default=d.batch_size)
    p.add_argument("--seq_len", type=int, default=d.seq_len)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--save_every", type=int, default=d.save_every, help="steps")
    p.add_argument("--eval_every", type=int, default=d.eval_every, help="steps")
    p.add_argument("--heldout_bytes", type=int, default=d.heldout_bytes)
    p.add_argument("--load_in_4bit", action="store_true", help="QLoRA on a 4-bit base")
    p.add_argument(
        "--resume", action="store_true", help="continue from the last checkpoint"
    )
    p.add_argument("--overwrite", action="store_true", help="replace --output_path")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="llmcpu-eval",
        description="Instruction-set portability for lm-evaluation-harness.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("isas", help="list the known ISAs with their defaults")
    enc = sub.add_parser("encode", help="show the ids one ISA gives a text")
    enc.add_argument("--isa", required=True, help="ISA spec, e.g. permuted:seed=0")
    enc.add_argument("--tokenizer", help="host tokenizer (default: SmolLM2)")
    enc.add_argument("text")
    board = sub.add_parser(
        "leaderboard",
        help="portability tables (Markdown, CSV, HTML, PNG) from lm-eval results",
        description=(
            "Read every lm-eval results JSON under the folders (with the "
            "samples beside them, from --log_samples, for paired intervals) "
            "and write leaderboard.md, leaderboard.csv, leaderboard.html and "
            "heatmap.png to --output_path. The folders are only read."
        ),
    )
    board.add_argument("folders", nargs="+", help="lm-eval --output_path folders")
    board.add_argument("--output_path", required=True, help="folder to write into")
    _add_train(sub)
    args = parser.parse_args(argv)
    handlers = {
        "isas": _isas,
        "encode": _encode,
        "leaderboard": _leaderboard,
        "train": _train,
    }
    try:
        return handlers[args.command](args)
    except (ISASpecError, ValueError, OSError) as err:
        print(f"llmcpu-eval: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
