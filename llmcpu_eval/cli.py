"""The ``llmcpu-eval`` command line."""

import argparse
import sys

from llmcpu_eval.spec import ISA_DEFAULTS, ISASpecError, canonical

EXAMPLES = """examples:
  llmcpu-eval isas
  llmcpu-eval encode --isa chars "Hello world"
  lm_eval --model llmcpu --tasks isa_permuted_hellaswag --limit 20
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
    args = parser.parse_args(argv)
    handler = {"isas": _isas, "encode": _encode}[args.command]
    try:
        return handler(args)
    except (ISASpecError, ValueError) as err:
        print(f"llmcpu-eval: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
