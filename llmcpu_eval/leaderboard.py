"""Leaderboard tables built from lm-eval results folders.

Reads every results JSON under the given folders (never writing to
them), computes portability rows with :mod:`llmcpu_eval.portability`
(paired on documents where the samples were logged), keeps the newest
result of each (model, benchmark, ISA, microcode), and writes Markdown,
CSV, a self-contained HTML page and a PNG heatmap, each atomically.
"""

import csv
import io
import json
import logging
import math
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from llmcpu_eval.portability import (
    Row,
    fmt_interval,
    fmt_number,
    isa_tasks,
    portability_rows,
)
from llmcpu_eval.spec import KNOWN_ISAS

logger = logging.getLogger(__name__)

OUTPUTS = ("leaderboard.md", "leaderboard.csv", "leaderboard.html", "heatmap.png")


@dataclass
class Entry:
    """One leaderboard row: a portability row and where it came from."""

    model: str
    fingerprint: str
    lm_eval_version: str
    date: float
    results_file: Path
    row: Row

    @property
    def key(self) -> tuple:
        r = self.row
        return self.model, r.benchmark, r.isa, r.microcode

    @property
    def date_text(self) -> str:
        when = datetime.fromtimestamp(self.date, tz=timezone.utc)
        return when.strftime("%Y-%m-%d %H:%M")


@dataclass
class Leaderboard:
    entries: list[Entry] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    replaced: list[tuple[Entry, Entry]] = field(default_factory=list)


def _load_results(path: Path) -> dict | None:
    """The results dict of an lm-eval results JSON, or None (warned)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        logger.warning("Skipping %s: not readable JSON (%s)", path, err)
        return None
    if not (
        isinstance(data, dict)
        and isinstance(data.get("results"), dict)
        and isinstance(data.get("configs"), dict)
    ):
        logger.warning(
            "Skipping %s: not an lm-eval results file (no 'results' and "
            "'configs' tables)",
            path,
        )
        return None
    return data


def _load_samples(results_path: Path, tasks) -> dict[str, list[dict]]:
    """Samples lm-eval wrote beside a results file, by task."""
    stamp = results_path.stem.removeprefix("results_")
    samples = {}
    for task in tasks:
        path = results_path.with_name(f"samples_{task}_{stamp}.jsonl")
        if not path.is_file():
            continue
        try:
            with path.open(encoding="utf-8") as lines:
                samples[task] = [json.loads(line) for line in lines if line.strip()]
        except (OSError, json.JSONDecodeError) as err:
            logger.warning("Ignoring samples %s: %s", path, err)
    return samples


def model_of(results: dict) -> tuple[str, str]:
    """(model name, weight fingerprint or revision) of a results dict."""
    config = results.get("config") or {}
    args = config.get("model_args") or {}
    if isinstance(args, str):
        args = dict(a.split("=", 1) for a in args.split(",") if "=" in a)
    name = config.get("llmcpu_model") or args.get("pretrained")
    if not name and config.get("model") == "llmcpu":
        # Runs from before llmcpu_model was recorded: no pretrained=
        # meant the embedded default model.
        from llmcpu_eval.default_model import DEFAULT_MODEL_NAME

        name = DEFAULT_MODEL_NAME
    name = name or results.get("model_name") or "?"
    fingerprint = (
        config.get("llmcpu_fingerprint")
        or config.get("model_sha")
        or config.get("model_revision")
        or ""
    )
    return str(name), str(fingerprint)


def _entries(path: Path, results: dict) -> list[Entry]:
    tasks = isa_tasks(results)
    samples = _load_samples(path, tasks)
    model, fingerprint = model_of(results)
    version = str(results.get("lm_eval_version") or "")
    date = results.get("date")
    if not isinstance(date, (int, float)):
        date = path.stat().st_mtime
    rows = portability_rows(results, samples)
    return [Entry(model, fingerprint, version, float(date), path, r) for r in rows]


def collect(folders, exclude: Path | None = None) -> Leaderboard:
    """Every portability row under ``folders``, newest per key."""
    board = Leaderboard()
    kept: dict[tuple, Entry] = {}
    for folder in map(Path, folders):
        if not folder.exists():
            raise FileNotFoundError(f"results folder {folder} does not exist")
        files = [folder] if folder.is_file() else sorted(folder.rglob("*.json"))
        for path in files:
            if exclude and exclude in path.resolve().parents:
                continue
            results = _load_results(path)
            if results is None:
                board.skipped.append((path, "not an lm-eval results file"))
                continue
            for entry in _entries(path, results):
                old = kept.get(entry.key)
                if old is None:
                    kept[entry.key] = entry
                    continue
                new, stale = (entry, old) if entry.date >= old.date else (old, entry)
                kept[entry.key] = new
                board.replaced.append((new, stale))
                logger.warning(
                    "%s on %s under %s (%s) is in %s and %s; keeping the newer, %s",
                    *entry.key[:4],
                    stale.results_file,
                    new.results_file,
                    new.results_file,
                )
    board.entries = sorted(kept.values(), key=_sort_key)
    return board


def _sort_key(entry: Entry) -> tuple:
    r = entry.row
    isa = KNOWN_ISAS.index(r.isa.partition(":")[0])
    return entry.model, r.benchmark, isa, r.isa, r.microcode


# ---------------------------------------------------------------- tables

COLUMNS = (
    "model", "fingerprint", "benchmark", "isa", "microcode", "metric", "n",
    "native", "score", "chance", "retention", "ci_low", "ci_high", "paired",
    "lm_eval_version", "date", "results_file",
)  # fmt: skip


def _record(entry: Entry, base: Path) -> dict:
    r = entry.row
    return {
        "model": entry.model,
        "fingerprint": entry.fingerprint,
        "benchmark": r.benchmark,
        "isa": r.isa,
        "microcode": r.microcode,
        "metric": r.metric,
        "n": r.n,
        **{
            key: fmt_number(getattr(r, key), 4, missing="")
            for key in ("native", "score", "chance", "retention", "ci_low", "ci_high")
        },
        "paired": "yes" if r.paired else "no",
        "lm_eval_version": entry.lm_eval_version,
        "date": entry.date_text,
        "results_file": os.path.relpath(entry.results_file.resolve(), base.resolve()),
    }


def to_csv(board: Leaderboard, base: Path) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for entry in board.entries:
        writer.writerow(_record(entry, base))
    return out.getvalue()


def to_markdown(board: Leaderboard, base: Path) -> str:
    head = (
        "| Model | Weights | Benchmark | ISA | Microcode | Metric | n | Native "
        "| ISA score | Retention | 95% CI | lm-eval | Date |"
    )
    lines = [head, "|" + "---|" * 5 + "---|" + "---:|" * 4 + "---|---|---|"]
    for entry in board.entries:
        rec = _record(entry, base)
        r = entry.row
        lines.append(
            f"| {rec['model']} | `{rec['fingerprint'] or '-'}` | {rec['benchmark']} "
            f"| `{rec['isa']}` | {rec['microcode']} | {rec['metric']} | {rec['n']} "
            f"| {fmt_number(r.native)} | {fmt_number(r.score)} "
            f"| {fmt_number(r.retention)} | {fmt_interval(r)} "
            f"| {rec['lm_eval_version']} | {rec['date']} |"
        )
    notes = []
    if any(not e.row.paired for e in board.entries):
        notes.append(
            "Rows without a 95% CI come from aggregate scores (no "
            "`--log_samples`), not from documents paired with the native run."
        )
    notes += sorted(
        {f"{e.row.task}: {e.row.note}" for e in board.entries if e.row.note}
    )
    return "\n".join(lines) + "\n" + "".join(f"\n{n}\n" for n in notes)


def heatmap_matrix(board: Leaderboard):
    """(row labels, ISA columns, mean retention, per-benchmark detail)."""
    cells: dict[tuple[str, str], dict[str, float]] = {}
    for entry in board.entries:
        # One row per model for bare runs and one for its microcode, whichever
        # adapter served each ISA (the table names the adapters).
        kind = "bare" if entry.row.microcode == "bare" else "microcode"
        label = f"{entry.model} ({kind})"
        cells.setdefault((label, entry.row.isa), {})[entry.row.benchmark] = (
            entry.row.retention
        )
    labels = sorted({k[0] for k in cells})
    isas = sorted(
        {k[1] for k in cells}, key=lambda s: (KNOWN_ISAS.index(s.partition(":")[0]), s)
    )
    values, detail = [], []
    for label in labels:
        values.append([])
        detail.append([])
        for isa in isas:
            per = cells.get((label, isa), {})
            finite = [v for v in per.values() if not math.isnan(v)]
            values[-1].append(sum(finite) / len(finite) if finite else math.nan)
            detail[-1].append(per)
    return labels, isas, values, detail


def to_png(board: Leaderboard) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels, isas, values, _ = heatmap_matrix(board)
    grid = np.array(values, dtype=float).reshape(len(labels), len(isas))
    fig, ax = plt.subplots(
        figsize=(1.6 + 1.5 * len(isas), 1.2 + 0.55 * len(labels)), dpi=120
    )
    image = ax.imshow(grid, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(isas)), isas, rotation=20, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for (i, j), value in np.ndenumerate(grid):
        text = "-" if math.isnan(value) else f"{value:.2f}"
        dark = not math.isnan(value) and not 0.2 <= value <= 0.85
        color = "white" if dark else "black"
        ax.text(j, i, text, ha="center", va="center", fontsize=9, color=color)
    ax.set_title("Retention, mean over benchmarks", fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.04, label="retention")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def write_atomic(files: dict[Path, str | bytes]) -> None:
    """Write every file to a temporary name first, then rename them all.

    An interruption before the renames leaves every old file intact.
    """
    staged = []
    umask = os.umask(0)
    os.umask(umask)
    try:
        for path, content in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            with os.fdopen(fd, "wb") as out:
                data = content.encode("utf-8") if isinstance(content, str) else content
                out.write(data)
            # mkstemp makes the file private; give it the usual mode.
            os.chmod(tmp, 0o666 & ~umask)
            staged.append((tmp, path))
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)


def build(folders, output_path) -> Leaderboard:
    """Collect ``folders`` and write every leaderboard file to ``output_path``."""
    from llmcpu_eval.leaderboard_html import to_html

    out = Path(output_path)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(
            f"--output_path {out} is a file; give a folder for the leaderboard."
        )
    board = collect(folders, exclude=out.resolve())
    if not board.entries:
        raise ValueError(
            "No portability rows found in "
            + ", ".join(map(str, folders))
            + ": they need lm-eval results of ISA tasks together with their "
            "isa_native_* task (e.g. --tasks isa_hellaswag)."
        )
    write_atomic(
        {
            out / "leaderboard.md": to_markdown(board, out),
            out / "leaderboard.csv": to_csv(board, out),
            out / "leaderboard.html": to_html(board, out),
            out / "heatmap.png": to_png(board),
        }
    )
    return board
