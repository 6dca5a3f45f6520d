"""The ``llmcpu-eval`` command line."""

import argparse
import sys

from llmcpu_eval.spec import ISA_DEFAULTS, ISASpecError, canonical

EXAMPLES = """examples:
  llmcpu-eval isas
  llmcpu-eval encode --isa chars "Hello world"
  lm_eval --model llmcpu --tasks isa_piqa --limit 20 --output_path runs/ --log_samples
  llmcpu-eval leaderboard runs/ results/ --output_path results/leaderboard
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
    args = parser.parse_args(argv)
    handlers = {"isas": _isas, "encode": _encode, "leaderboard": _leaderboard}
    try:
        return handlers[args.command](args)
    except (ISASpecError, ValueError, OSError) as err:
        print(f"llmcpu-eval: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
