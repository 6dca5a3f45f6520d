"""Portability: how much of a model's native skill survives an ISA.

For accuracy metrics, retention = (score_isa - chance) /
(score_native - chance); for perplexity tasks, retention =
bpb_native / bpb_isa (bits per byte does not depend on the
tokenizer). 1.0 means the ISA costs nothing, 0.0 means chance level.

Scores are paired on the same documents, from the per-document
samples lm-eval logs with ``--log_samples``, with a bootstrap 95%
confidence interval over documents. Without samples the retention
comes from the aggregate scores, with no interval, and the row says so.

>>> retention(0.40, native=0.50, chance=0.25)
0.6
"""

import logging
import math
from dataclasses import asdict, dataclass

import numpy as np

from llmcpu_eval.spec import KNOWN_ISAS

logger = logging.getLogger(__name__)

TASK_PREFIX = "isa_"
ISA_KEY = "llmcpu_isa"
MICROCODE_KEY = "llmcpu_microcode"  # the same keys as llmcpu_eval.task

# Metric that portability is measured on, in order of preference.
# acc_norm is normalised by characters, so it compares across ISAs.
ACCURACY_METRICS = ("acc_norm", "acc")
BPB_METRIC = "bits_per_byte"

# Chance level of benchmarks whose documents do not all carry it in
# their samples (aggregate-only results). With samples, the chance of
# each document is 1 / its number of choices.
CHANCE = {
    "hellaswag": 0.25,
    "arc_easy": 0.25,
    "arc_challenge": 0.25,
    "piqa": 0.5,
    "winogrande": 0.5,
    # Open vocabulary: guessing the last word is (almost) never right.
    "lambada_openai": 0.0,
}

BOOTSTRAP_ITERS = 2000
BOOTSTRAP_SEED = 0


def retention(score: float, native: float, chance: float) -> float:
    """(score - chance) / (native - chance); NaN if native <= chance."""
    if native - chance <= 1e-12:
        return math.nan
    return round((score - chance) / (native - chance), 12)


@dataclass
class Row:
    """Portability of one ISA task against its native sibling."""

    benchmark: str
    task: str
    isa: str
    microcode: str
    metric: str
    n: int
    native: float
    score: float
    chance: float
    retention: float
    ci_low: float | None
    ci_high: float | None
    paired: bool
    note: str = ""

    def as_dict(self) -> dict:
        """Plain values for JSON: NaN becomes None."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float) and math.isnan(value):
                out[key] = None
        return out


def split_task_name(task: str, isa: str) -> str | None:
    """The benchmark of an ISA task name.

    >>> split_task_name("isa_permuted_arc_easy", "permuted:seed=0")
    'arc_easy'
    """
    name = isa.partition(":")[0]
    head = f"{TASK_PREFIX}{name}_"
    if task.startswith(head) and name in KNOWN_ISAS:
        return task[len(head) :]
    return None


def isa_tasks(results: dict) -> dict[str, tuple[str, str, str]]:
    """task -> (benchmark, ISA spec, microcode) for each ISA task."""
    found = {}
    for task, config in (results.get("configs") or {}).items():
        meta = (config or {}).get("metadata") or {}
        spec = meta.get(ISA_KEY)
        if not isinstance(spec, str) or task not in results.get("results", {}):
            continue
        benchmark = split_task_name(task, spec)
        if benchmark is not None:
            microcode = meta.get(MICROCODE_KEY) or "bare"
            found[task] = (benchmark, spec, str(microcode))
    return found


def pick_metric(task_results: dict) -> str | None:
    """The metric portability is measured on, from a results entry."""
    for metric in (BPB_METRIC, *ACCURACY_METRICS):
        if f"{metric},none" in task_results:
            return metric
    return None


def _doc_values(samples: list[dict], metric: str) -> dict:
    """doc_id -> (value, chance) from lm-eval samples (filter 'none')."""
    values = {}
    for sample in samples:
        if sample.get("filter", "none") != "none" or metric not in sample:
            continue
        value = sample[metric]
        if metric == BPB_METRIC:
            # (loglikelihood, bytes) per document.
            value = (float(value[0]), float(value[1]))
            chance = 0.0
        else:
            value = float(value)
            choices = len(sample.get("filtered_resps") or [])
            chance = 1.0 / choices if choices > 1 else 0.0
        values[sample["doc_id"]] = (value, chance)
    return values


def _bootstrap(stat, n: int) -> tuple[float, float]:
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    idx = rng.integers(0, n, size=(BOOTSTRAP_ITERS, n))
    draws = stat(idx)
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return math.nan, math.nan
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(low), float(high)


def paired_row(base: Row, native: list[dict], isa: list[dict]) -> Row:
    """Fill ``base`` from per-document samples of both tasks."""
    nat = _doc_values(native, base.metric)
    own = _doc_values(isa, base.metric)
    docs = sorted(set(nat) & set(own))
    base.n, base.paired = len(docs), True
    if not docs:
        base.paired = False
        base.note = "no documents in common with the native task"
        return base
    # Per document: the metric's value, or (loglikelihood, bytes) for bpb.
    a = np.array([nat[d][0] for d in docs])
    b = np.array([own[d][0] for d in docs])
    if base.metric == BPB_METRIC:
        base.native = _bpb(a[:, 0].sum(), a[:, 1].sum())
        base.score = _bpb(b[:, 0].sum(), b[:, 1].sum())
        base.chance = 0.0
        base.retention = base.native / base.score
        # Same documents, same bytes: the ratio of bpb is the ratio
        # of summed log-likelihoods.
        stat = lambda i: a[i, 0].sum(1) / b[i, 0].sum(1)  # noqa: E731
    else:
        c = np.array([nat[d][1] for d in docs])
        base.native, base.score = float(a.mean()), float(b.mean())
        base.chance = float(c.mean())
        base.retention = retention(base.score, base.native, base.chance)

        def stat(i):
            gain = a[i].mean(1) - c[i].mean(1)
            with np.errstate(divide="ignore", invalid="ignore"):
                r = (b[i].mean(1) - c[i].mean(1)) / gain
            return np.where(gain > 1e-12, r, np.nan)

    if not math.isnan(base.retention):
        base.ci_low, base.ci_high = _bootstrap(stat, len(docs))
    return base


def _bpb(loglikelihood: float, n_bytes: float) -> float:
    return -loglikelihood / n_bytes / math.log(2)


def aggregate_row(base: Row, native: dict, isa: dict) -> Row:
    """Fill ``base`` from the aggregate scores of both tasks."""
    key = f"{base.metric},none"
    base.native, base.score = float(native[key]), float(isa[key])
    base.n = int(isa.get("sample_len") or 0)
    base.paired = False
    base.note = "from aggregate scores: no samples (run with --log_samples)"
    if base.metric == BPB_METRIC:
        base.chance = 0.0
        base.retention = base.native / base.score
        return base
    chance = CHANCE.get(base.benchmark)
    if chance is None:
        base.note = f"chance level of {base.benchmark} unknown without samples"
        return base
    base.chance = chance
    base.retention = retention(base.score, base.native, chance)
    return base


def _order(item) -> tuple:
    task, (benchmark, spec, microcode) = item
    return benchmark, KNOWN_ISAS.index(spec.partition(":")[0]), spec, microcode


def portability_rows(
    results: dict,
    samples: dict | None = None,
    natives: dict | None = None,
) -> list[Row]:
    """Retention of every non-native ISA task in one lm-eval results dict.

    Args:
        results: an lm-eval results dict (or a loaded results JSON).
        samples: task -> list of logged samples, where available.
        natives: benchmark -> (results entry, samples or None) of
            native tasks from elsewhere, used when ``results`` has none.
    """
    samples = samples or {}
    tasks = isa_tasks(results)
    native_of = {b: t for t, (b, spec, _) in tasks.items() if spec == "native"}
    rows = []
    for task, (benchmark, spec, microcode) in sorted(tasks.items(), key=_order):
        if spec == "native":
            continue
        entry = results["results"][task]
        metric = pick_metric(entry)
        if metric is None:
            continue
        if benchmark in native_of:
            nat_task = native_of[benchmark]
            nat_entry = results["results"][nat_task]
            nat_samples = samples.get(nat_task)
        elif natives and benchmark in natives:
            nat_entry, nat_samples = natives[benchmark]
        else:
            logger.info(
                "No isa_native_%s results next to %s: no retention for it",
                benchmark,
                task,
            )
            continue
        base = Row(
            benchmark, task, spec, microcode, metric, 0, math.nan, math.nan,
            math.nan, math.nan, None, None, False,
        )  # fmt: skip
        if nat_samples and samples.get(task):
            rows.append(paired_row(base, nat_samples, samples[task]))
        else:
            rows.append(aggregate_row(base, nat_entry, entry))
    return rows


def fmt_number(value, digits: int = 3, missing: str = "-") -> str:
    """``0.4651 -> '0.465'``; None or NaN -> ``missing``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    return f"{value:.{digits}f}"


def fmt_interval(row: Row) -> str:
    """``'0.024 to 0.651'``, or ``'-'`` where there is no interval."""
    if row.ci_low is None:
        return "-"
    return f"{fmt_number(row.ci_low)} to {fmt_number(row.ci_high)}"


def format_table(rows: list[Row]) -> str:
    """A Markdown table of portability rows, as printed after lm-eval's."""
    head = (
        "| Benchmark | ISA | Microcode | Metric | n | Native | ISA score "
        "| Chance | Retention | 95% CI | Paired |"
    )
    lines = [head, "|" + "|".join(["---"] * 11) + "|"]
    for r in rows:
        lines.append(
            f"| {r.benchmark} | {r.isa} | {r.microcode} | {r.metric} | {r.n} "
            f"| {fmt_number(r.native)} | {fmt_number(r.score)} "
            f"| {fmt_number(r.chance, 2)} | {fmt_number(r.retention)} "
            f"| {fmt_interval(r)} | {'yes' if r.paired else 'no'} |"
        )
    notes = sorted({r.note for r in rows if r.note})
    return "\n".join(lines + [f"Note: {n}" for n in notes])
