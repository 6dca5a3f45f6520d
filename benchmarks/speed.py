"""Speed of llmcpu-eval against plain lm-eval and the host tokenizer.

Prints, from one run on the same tasks and documents:
1. the wall time of ``--model llmcpu`` on ``isa_native_<task>`` over that
   of ``--model hf`` on the upstream ``<task>`` (goal: at most 1.03);
2. each ISA's encoding throughput relative to the host tokenizer's own.

    python benchmarks/speed.py --tasks arc_easy,piqa --limit 100

Both models are built once and evaluated in alternating order, so model
loading and warm-up cost the same on both sides.
"""

import argparse
import gzip
import json
import logging
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import datasets  # noqa: E402
import lm_eval  # noqa: E402
from lm_eval.models.huggingface import HFLM  # noqa: E402

import llmcpu_eval.plugin  # noqa: E402
from llmcpu_eval.data import BUNDLED, _local  # noqa: E402
from llmcpu_eval.default_model import default_model_path  # noqa: E402
from llmcpu_eval.isa import build_isa  # noqa: E402
from llmcpu_eval.model import LLMCPU  # noqa: E402
from llmcpu_eval.spec import KNOWN_ISAS  # noqa: E402


def serve_bundled_rows():
    """Upstream tasks read the hub; give them the bundled rows instead."""

    def load_dataset(path, name=None, **kwargs):
        data = _local(path, name)
        data["train"] = next(iter(data.values()))
        return data

    datasets.load_dataset = load_dataset


def time_eval(lm, tasks, limit, manager) -> float:
    start = time.perf_counter()
    lm_eval.simple_evaluate(model=lm, tasks=tasks, limit=limit, task_manager=manager)
    return time.perf_counter() - start


def eval_ratio(args, pretrained) -> None:
    from lm_eval.tasks import TaskManager

    upstream = args.tasks.split(",")
    native = [f"isa_native_{t}" for t in upstream]
    root = os.path.dirname(lm_eval.tasks.__file__)
    folders = {"arc_easy": "arc", "lambada_openai": "lambada"}
    paths = [os.path.join(root, folders.get(t, t)) for t in upstream]
    manager = TaskManager(include_defaults=False, include_path=paths)
    common = dict(pretrained=pretrained, batch_size=args.batch_size)
    hf = HFLM(dtype="float32", device="cpu", **common)
    ours = LLMCPU(**common)

    hf_times, our_times = [], []
    for n in range(args.repeats):
        order = [(hf, upstream, hf_times), (ours, native, our_times)]
        for lm, tasks, times in order if n % 2 == 0 else order[::-1]:
            times.append(time_eval(lm, tasks, args.limit, manager))
    hf_s, our_s = statistics.median(hf_times), statistics.median(our_times)
    print(f"\nwall time, {args.repeats} alternating runs, median")
    print(f"  --model hf     {','.join(upstream)}: {hf_s:8.2f} s")
    print(f"  --model llmcpu {','.join(native)}: {our_s:8.2f} s")
    print(f"  ratio llmcpu / hf: {our_s / hf_s:.3f}  (goal <= 1.03)")


def corpus() -> list[str]:
    folder = BUNDLED / "Rowan__hellaswag"
    with gzip.open(folder / "validation.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    return [r["ctx"] + " " + " ".join(r["endings"]) for r in rows]


def encode_ratio(pretrained) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(pretrained)
    texts = corpus()
    chars = sum(len(t) for t in texts)

    def rate(encode) -> float:
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for text in texts:
                encode(text)
            best = min(best, time.perf_counter() - start)
        return chars / best

    host = rate(lambda t: tokenizer.encode(t, add_special_tokens=False))
    print(f"\nencoding {len(texts)} HellaSwag texts ({chars} characters), best of 3")
    print(f"  host tokenizer: {host / 1e6:.2f} M chars/s")
    for name in KNOWN_ISAS:
        isa = build_isa(name, tokenizer)
        ratio = rate(isa.encode) / host
        print(f"  {str(isa):22s} {ratio:6.2f} x host")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pretrained", help="model (default: embedded SmolLM2)")
    parser.add_argument("--tasks", default="arc_easy,piqa")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip_eval", action="store_true")
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING)
    llmcpu_eval.plugin.install()
    serve_bundled_rows()
    pretrained = args.pretrained or str(default_model_path())
    encode_ratio(pretrained)
    if not args.skip_eval:
        eval_ratio(args, pretrained)


if __name__ == "__main__":
    main()
