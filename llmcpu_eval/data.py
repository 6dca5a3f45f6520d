"""Benchmark data for ISA tasks: the hub first, then local files.

ISA tasks read their benchmark from the Hugging Face hub, as upstream
lm-eval does. When the hub cannot be reached (or ``HF_HUB_OFFLINE`` /
``HF_DATASETS_OFFLINE`` is set) they fall back to:

1. ``$LLMCPU_EVAL_DATA``: a folder with the full benchmark files, laid
   out like ``shared/data`` (see ``llmcpu_eval/data/SOURCES.md``);
2. otherwise the real rows bundled in this package (the first few
   hundred of each benchmark).

Either way the rows are converted to the hub's schema, so the upstream
prompts and metrics apply unchanged.
"""

import bz2
import gzip
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

DATA_ENV = "LLMCPU_EVAL_DATA"
BUNDLED = Path(__file__).parent / "data"
_hub_unreachable = False
# Benchmarks already warned about: bundled rows are only their start.
_warned_bundled: set = set()


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in _read_lines(path) if line.strip()]


def hellaswag_rows(root: Path) -> Iterator[dict]:
    """llama.cpp's HellaSwag text: 6 lines per item (query, label, endings)."""
    path = root / "hellaswag" / "hellaswag_val_full.txt.bz2"
    lines = bz2.decompress(path.read_bytes()).decode("utf-8").split("\n")
    for n in range(len(lines) // 6):
        query, label, *endings = lines[6 * n : 6 * n + 6]
        # The query is already "activity_label: ctx" with markup removed.
        activity, _, ctx = query.partition(": ")
        yield {
            "ind": n,
            "activity_label": activity,
            "ctx_a": ctx,
            "ctx_b": "",
            "ctx": ctx,
            "endings": endings,
            "source_id": "",
            "split": "val",
            "split_type": "",
            "label": label,
        }


def arc_easy_rows(root: Path, split: str) -> Iterator[dict]:
    path = root / "arc" / "arc_easy" / f"{split}.json"
    yield from json.loads(path.read_text(encoding="utf-8"))


def piqa_rows(root: Path) -> Iterator[dict]:
    folder = root / "piqa"
    labels = _read_lines(folder / "valid-labels.lst")
    for row, label in zip(_read_jsonl(folder / "valid.jsonl"), labels, strict=True):
        yield {**row, "label": int(label)}


def winogrande_rows(root: Path) -> Iterator[dict]:
    """Rebuild ``sentence/option1/option2/answer`` from partial scoring rows.

    ``context_options[i]`` is the sentence up to the blank with option i
    filled in, and ``continuation`` is the rest after the blank.
    """
    for row in _read_jsonl(root / "winogrande" / "winogrande.jsonl"):
        first, second = row["context_options"]
        common = os.path.commonprefix([first, second])
        yield {
            "sentence": f"{common}_ {row['continuation']}",
            "option1": first[len(common) :],
            "option2": second[len(common) :],
            "answer": str(row["gold"] + 1),
        }


def lambada_rows(root: Path) -> Iterator[dict]:
    for row in _read_jsonl(root / "lambada" / "lambada_openai.jsonl"):
        yield {"text": f"{row['context']} {row['continuation']}"}


_HEADING = re.compile(r"^ = [^=].* = $")


def wikitext_rows(root: Path) -> Iterator[dict]:
    """Group raw WikiText-2 test lines into one page per article.

    An article starts at a top-level heading `` = Title = ``. The raw
    file lost its blank lines, so paragraphs are joined by newlines.
    """
    path = root / "wikitext2" / "wiki.test.raw"
    page: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.rstrip("\r")
        if _HEADING.match(line) and page:
            yield {"page": "\n".join(page) + "\n"}
            page = []
        page.append(line)
    if page:
        yield {"page": "\n".join(page) + "\n"}


# (hub path, hub config) -> {split: reader of a shared/data-style folder}
BENCHMARKS: dict[tuple[str, str | None], dict[str, Callable]] = {
    ("Rowan/hellaswag", None): {"validation": hellaswag_rows},
    ("allenai/ai2_arc", "ARC-Easy"): {
        "test": lambda root: arc_easy_rows(root, "test"),
        "validation": lambda root: arc_easy_rows(root, "validation"),
    },
    ("baber/piqa", None): {"validation": piqa_rows},
    ("allenai/winogrande", "winogrande_xl"): {"validation": winogrande_rows},
    ("EleutherAI/lambada_openai", "default"): {"test": lambada_rows},
    ("EleutherAI/wikitext_document_level", "wikitext-2-raw-v1"): {
        "test": wikitext_rows
    },
}


def bundle_name(path: str, name: str | None) -> str:
    """Folder name of a benchmark's bundled rows, e.g. ``allenai__ai2_arc__ARC-Easy``."""
    return "__".join(p.replace("/", "__") for p in (path, name) if p)


def _offline() -> bool:
    flags = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    return any(os.environ.get(f, "0") not in ("0", "") for f in flags)


def _from_hub(path, name, dataset_kwargs):
    """The hub dataset, or None when the hub cannot be reached."""
    global _hub_unreachable
    if _offline() or _hub_unreachable:
        return None
    import datasets

    try:
        return datasets.load_dataset(path, name, **(dataset_kwargs or {}))
    except (ConnectionError, OSError, TimeoutError) as err:
        # Remember: every further task would wait ~25 s for the same answer.
        _hub_unreachable = True
        logger.warning(
            "Could not load %s from the Hugging Face hub (%s: %s); using "
            "local data instead",
            path,
            type(err).__name__,
            str(err).splitlines()[0][:200] if str(err) else "",
        )
        return None


def _local(path, name):
    return _local_with_source(path, name)[0]


def _local_with_source(path, name):
    import datasets

    key = (path, name)
    folder = os.environ.get(DATA_ENV)
    if folder:
        readers = BENCHMARKS.get(key)
        if readers is None:
            raise ValueError(
                f"{DATA_ENV}={folder} is set, but llmcpu-eval has no reader "
                f"for {path} ({name}). Known: "
                + ", ".join(bundle_name(*k) for k in BENCHMARKS)
            )
        root = Path(folder)
        splits = {s: list(read(root)) for s, read in readers.items()}
        source = f"{DATA_ENV}={folder}"
    else:
        bundle = BUNDLED / bundle_name(path, name)
        files = sorted(bundle.glob("*.jsonl.gz"))
        if not files:
            raise FileNotFoundError(
                f"The hub is unreachable and no local copy of {path} "
                f"({name}) is bundled. Point {DATA_ENV} at a folder with "
                "the benchmark files, or run with network access."
            )
        splits = {}
        for file in files:
            with gzip.open(file, "rt", encoding="utf-8") as fh:
                rows = [json.loads(line) for line in fh]
            splits[file.name.removesuffix(".jsonl.gz")] = rows
        source = "bundled"
    sizes = ", ".join(f"{s}: {len(r)} rows" for s, r in splits.items())
    source = f"{source} ({sizes})"
    if source.startswith("bundled") and key not in _warned_bundled:
        _warned_bundled.add(key)
        logger.warning(
            "Using the rows of %s bundled with llmcpu-eval (%s), the start "
            "of the benchmark, not all of it. For full-benchmark scores, "
            "run with hub access or set %s to a folder with the full files.",
            path,
            sizes,
            DATA_ENV,
        )
    else:
        logger.info("Using %s for %s", source, path)
    dataset = datasets.DatasetDict(
        {s: datasets.Dataset.from_list(rows) for s, rows in splits.items()}
    )
    return dataset, source


def load_benchmark(path: str, name: str | None, dataset_kwargs=None):
    """A DatasetDict of one benchmark: hub, else ``$LLMCPU_EVAL_DATA``, else bundled."""
    return load_benchmark_with_source(path, name, dataset_kwargs)[0]


def load_benchmark_with_source(path: str, name: str | None, dataset_kwargs=None):
    """``load_benchmark`` and where the rows came from: "hub", "bundled (...)"
    or "LLMCPU_EVAL_DATA=<folder> (...)", with the rows per split."""
    if os.environ.get(DATA_ENV):
        return _local_with_source(path, name)
    dataset = _from_hub(path, name, dataset_kwargs)
    if dataset is not None:
        return dataset, "hub"
    return _local_with_source(path, name)


def write_bundle(source: Path, out: Path, rows: int) -> list[Path]:
    """Write the first ``rows`` rows of each benchmark split as .jsonl.gz."""
    written = []
    for key, readers in BENCHMARKS.items():
        folder = out / bundle_name(*key)
        folder.mkdir(parents=True, exist_ok=True)
        for split, read in readers.items():
            target = folder / f"{split}.jsonl.gz"
            # mtime=0 keeps the archive byte-identical across rebuilds.
            with open(target, "wb") as raw:
                with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
                    for n, row in enumerate(read(Path(source))):
                        if n == rows:
                            break
                        line = json.dumps(row, ensure_ascii=False) + "\n"
                        fh.write(line.encode("utf-8"))
            written.append(target)
    return written
