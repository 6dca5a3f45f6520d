"""The leaderboard command on real published lm-eval results."""

import csv
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from llmcpu_eval import leaderboard

PUBLISHED = (
    Path(__file__).resolve().parents[1]
    / "results/smollm2-135m-instruct/bare/SmolLM2-135M-Instruct"
)
HELLASWAG = "2026-12-04T02-26-49.888706"
PIQA = "2026-12-04T02-15-07.929058"
WEIGHTS = "sha256:420a18680f6c517d"  # the embedded SmolLM2 checkout
CHROMEDRIVER = shutil.which("chromedriver")


def copy_run(stamp: str, folder: Path, samples: bool = True) -> Path:
    """Copy one published run (results JSON and its samples) to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = sorted(PUBLISHED.glob(f"*{stamp}*"))
    assert paths, f"no published run {stamp} in {PUBLISHED}"
    for path in paths:
        if samples or path.name.startswith("results_"):
            shutil.copy(path, folder / path.name)
    return folder / f"results_{stamp}.json"


def tree_digest(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def two_runs(tmp_path):
    """Two results folders, as from two machines, plus files to skip."""
    first, second = tmp_path / "machine-a", tmp_path / "machine-b"
    copy_run(HELLASWAG, first / "SmolLM2-135M-Instruct")
    copy_run(PIQA, second / "SmolLM2-135M-Instruct", samples=False)
    (second / "notes.json").write_text('{"hello": "world"}')
    (second / "broken.json").write_text('{"results": {')
    return first, second


def test_cli_writes_every_output_and_leaves_inputs_alone(two_runs, tmp_path):
    before = {f: tree_digest(f) for f in two_runs}
    out = tmp_path / "board"

    proc = subprocess.run(
        ["llmcpu-eval", "leaderboard", *map(str, two_runs), "--output_path", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert proc.returncode == 0, proc.stderr
    assert "8 rows (1 models: SmolLM2-135M-Instruct)" in proc.stdout
    assert "2 files skipped" in proc.stdout
    for name in leaderboard.OUTPUTS:
        assert f"wrote {out}/{name}" in proc.stdout
        assert (out / name).stat().st_size > 0
    assert "broken.json: not readable JSON" in proc.stderr
    assert "notes.json: not an lm-eval results file" in proc.stderr
    assert {f: tree_digest(f) for f in two_runs} == before

    rows = read_csv(out / "leaderboard.csv")
    by_key = {(r["benchmark"], r["isa"]): r for r in rows}
    chars = by_key["hellaswag", "chars"]
    # Published: native acc_norm 0.465, chars 0.300, chance 0.25.
    assert chars["native"] == "0.4650" and chars["score"] == "0.3000"
    assert float(chars["retention"]) == pytest.approx(0.05 / 0.215, abs=1e-4)
    assert chars["paired"] == "yes" and float(chars["ci_low"]) < 0.2326
    assert chars["n"] == "200" and chars["lm_eval_version"] == "0.4.13"
    assert chars["microcode"] == "bare" and chars["fingerprint"] == WEIGHTS
    piqa = by_key["piqa", "permuted:seed=0"]
    assert piqa["paired"] == "no" and piqa["ci_low"] == ""
    assert (out / piqa["results_file"]).resolve() == (
        two_runs[1] / "SmolLM2-135M-Instruct" / f"results_{PIQA}.json"
    )
    markdown = (out / "leaderboard.md").read_text()
    assert f"| SmolLM2-135M-Instruct | `{WEIGHTS}` | hellaswag | `chars` |" in markdown
    assert "aggregate scores" in markdown
    assert (out / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_results_without_a_fingerprint_show_their_revision(tmp_path):
    # Results JSONs from before config.llmcpu_fingerprint, or from --model hf.
    path = copy_run(PIQA, tmp_path / "old", samples=False)
    data = json.loads(path.read_text())
    del data["config"]["llmcpu_fingerprint"]
    data["config"]["model_revision"] = "main"
    path.write_text(json.dumps(data))

    board = leaderboard.collect([tmp_path / "old"])

    assert {e.fingerprint for e in board.entries} == {"main"}


def test_the_same_result_twice_keeps_the_newest(tmp_path, caplog):
    old = copy_run(HELLASWAG, tmp_path / "old")
    new = copy_run(HELLASWAG, tmp_path / "new", samples=False)
    data = json.loads(new.read_text())
    data["date"] += 3600
    data["results"]["isa_chars_hellaswag"]["acc_norm,none"] = 0.4
    new.write_text(json.dumps(data))

    board = leaderboard.collect([tmp_path / "new", tmp_path / "old"])

    chars = [e for e in board.entries if e.row.isa == "chars"]
    assert len(chars) == 1 and chars[0].results_file == new
    assert chars[0].row.score == 0.4
    assert len(board.replaced) == 4
    assert f"keeping the newer, {new}" in caplog.text
    assert str(old) in caplog.text


def test_an_interrupted_build_leaves_the_previous_leaderboard(
    two_runs, tmp_path, monkeypatch
):
    out = tmp_path / "board"
    leaderboard.build(two_runs, out)
    before = tree_digest(out)

    def crash(board):
        raise KeyboardInterrupt

    monkeypatch.setattr(leaderboard, "to_png", crash)
    with pytest.raises(KeyboardInterrupt):
        leaderboard.build([two_runs[0]], out)

    assert tree_digest(out) == before


def test_no_isa_results_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="isa_native_"):
        leaderboard.build([tmp_path / "empty"], tmp_path / "board")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        leaderboard.build([tmp_path / "missing"], tmp_path / "board")


@pytest.mark.skipif(
    CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)
def test_html_page_reads_back_and_sorts_in_headless_chromium(two_runs, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    out = tmp_path / "board"
    leaderboard.build(two_runs, out)
    expected = read_csv(out / "leaderboard.csv")

    options = webdriver.ChromeOptions()
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu",
        "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get((out / "leaderboard.html").as_uri())
        headers = [
            th.get_attribute("data-key")
            for th in driver.find_elements(By.CSS_SELECTOR, "#leaderboard th")
        ]

        def table():
            rows = driver.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")
            return [
                {
                    key: td.get_attribute("data-sort")
                    for key, td in zip(
                        headers, tr.find_elements(By.TAG_NAME, "td"), strict=True
                    )
                }
                for tr in rows
            ]

        shown = table()
        assert len(shown) == len(expected) == 8
        for row, want in zip(shown, expected, strict=True):
            for key in headers:
                assert row[key] == want[key], key
        link = driver.find_element(By.CSS_SELECTOR, "#leaderboard tbody a")
        assert link.get_attribute("href").endswith(".json")

        column = headers.index("retention")
        header = driver.find_elements(By.CSS_SELECTOR, "#leaderboard th")[column]
        header.click()
        ascending = [float(r["retention"]) for r in table()]
        assert ascending == sorted(ascending)
        header.click()
        descending = [float(r["retention"]) for r in table()]
        assert descending == sorted(ascending, reverse=True)

        cells = driver.find_elements(By.CSS_SELECTOR, "#heatmap td.cell")
        assert len(cells) == 4 and all(c.text for c in cells)
    finally:
        driver.quit()
