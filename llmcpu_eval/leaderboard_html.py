"""The leaderboard as one self-contained HTML page.

No external scripts, styles or fonts: the page opens from disk, from a
model card or from a static host. The table sorts when a header is
clicked (numbers as numbers); the heatmap shows mean retention by model
and ISA; every row links the lm-eval results file it came from.
"""

import html
import math
from pathlib import Path

from llmcpu_eval.leaderboard import Leaderboard, _record, heatmap_matrix

SHOWN = (
    ("model", "Model"), ("fingerprint", "Weights"), ("benchmark", "Benchmark"),
    ("isa", "ISA"), ("microcode", "Microcode"), ("metric", "Metric"),
    ("n", "n"), ("native", "Native"), ("score", "ISA score"),
    ("retention", "Retention"), ("ci_low", "CI low"), ("ci_high", "CI high"),
    ("lm_eval_version", "lm-eval"), ("date", "Date"), ("results_file", "Results"),
)  # fmt: skip
NUMERIC = {"n", "native", "score", "retention", "ci_low", "ci_high"}

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
#leaderboard th { cursor: pointer; background: #f3f3f3; user-select: none; }
#leaderboard th[aria-sort=ascending]::after { content: " \\25B2"; }
#leaderboard th[aria-sort=descending]::after { content: " \\25BC"; }
#heatmap td.cell { text-align: center; min-width: 6em; }
"""

# Sorts #leaderboard by the clicked column; cells carry data-sort.
SCRIPT = """
document.querySelectorAll("#leaderboard th").forEach((th, col) => {
  th.addEventListener("click", () => {
    const body = document.querySelector("#leaderboard tbody");
    const up = th.getAttribute("aria-sort") !== "ascending";
    document.querySelectorAll("#leaderboard th")
      .forEach(h => h.removeAttribute("aria-sort"));
    th.setAttribute("aria-sort", up ? "ascending" : "descending");
    const key = tr => tr.children[col].dataset.sort;
    const numeric = th.dataset.type === "number";
    const rows = Array.from(body.rows).sort((a, b) => {
      let x = key(a), y = key(b);
      if (numeric) {
        x = x === "" ? -Infinity : parseFloat(x);
        y = y === "" ? -Infinity : parseFloat(y);
        return up ? x - y : y - x;
      }
      return up ? x.localeCompare(y) : y.localeCompare(x);
    });
    rows.forEach(r => body.appendChild(r));
  });
});
"""


def _color(value: float) -> str:
    """Red at chance (0 or less), yellow at 0.5, green at 1 or more."""
    if math.isnan(value):
        return "#eeeeee"
    t = min(max(value, 0.0), 1.0)
    low, mid, high = (230, 90, 80), (240, 210, 90), (90, 185, 100)
    a, b, u = (low, mid, 2 * t) if t < 0.5 else (mid, high, 2 * t - 1)
    r, g, bl = (round(x + (y - x) * u) for x, y in zip(a, b, strict=True))
    return f"rgb({r},{g},{bl})"


def _cell(key: str, value) -> str:
    text = html.escape(str(value))
    if key == "results_file":
        href = html.escape(Path(str(value)).as_posix(), quote=True)
        return f'<td data-sort="{text}"><a href="{href}">results</a></td>'
    if key in ("isa", "fingerprint"):
        return f'<td data-sort="{text}"><code>{text}</code></td>'
    css = ' class="num"' if key in NUMERIC else ""
    return f'<td{css} data-sort="{text}">{text}</td>'


def _table(board: Leaderboard, base: Path) -> str:
    head = "".join(
        f'<th data-key="{k}" data-type="{"number" if k in NUMERIC else "text"}">'
        f"{html.escape(title)}</th>"
        for k, title in SHOWN
    )
    rows = []
    for entry in board.entries:
        rec = _record(entry, base)
        rows.append("<tr>" + "".join(_cell(k, rec[k]) for k, _ in SHOWN) + "</tr>")
    body = "\n".join(rows)
    return (
        f'<table id="leaderboard"><thead><tr>{head}</tr></thead>'
        f"<tbody>\n{body}\n</tbody></table>"
    )


def _heatmap(board: Leaderboard) -> str:
    labels, isas, values, detail = heatmap_matrix(board)
    head = "".join(f"<th><code>{html.escape(i)}</code></th>" for i in isas)
    rows = []
    for label, line, per in zip(labels, values, detail, strict=True):
        cells = []
        for value, benchmarks in zip(line, per, strict=True):
            title = "; ".join(
                f"{b}: {v:.3f}"
                for b, v in sorted(benchmarks.items())
                if not math.isnan(v)
            )
            text = "-" if math.isnan(value) else f"{value:.2f}"
            cells.append(
                f'<td class="cell" style="background:{_color(value)}" '
                f'title="{html.escape(title, quote=True)}">{text}</td>'
            )
        rows.append(f"<tr><th>{html.escape(label)}</th>{''.join(cells)}</tr>")
    return (
        f'<table id="heatmap"><thead><tr><th>model (microcode)</th>{head}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def to_html(board: Leaderboard, base: Path) -> str:
    """The whole page; ``base`` is the folder the page is written to."""
    notes = ""
    if any(not e.row.paired for e in board.entries):
        notes = (
            "<p>Rows without a confidence interval come from aggregate "
            "scores (the run had no <code>--log_samples</code>).</p>"
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>llmcpu-eval leaderboard</title>
<style>{STYLE}</style></head>
<body>
<h1>ISA portability leaderboard</h1>
<p>Retention = (ISA score &minus; chance) / (native score &minus; chance) on
accuracy metrics, native / ISA on bits per byte: 1 keeps all of the native
skill, 0 is chance level. Intervals are 95% bootstrap intervals over
documents paired with the native run. Click a header to sort.</p>
<h2>Mean retention by model and ISA</h2>
{_heatmap(board)}
<h2>All results</h2>
{_table(board, base)}
{notes}
<script>{SCRIPT}</script>
</body></html>
"""
