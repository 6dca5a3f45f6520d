"""End to end, as a user types it: plain lm_eval and llmcpu-eval."""

import json
import os
import subprocess
import sys

import pytest

from llmcpu_eval.spec import KNOWN_ISAS

BENCHMARKS = [
    "hellaswag",
    "arc_easy",
    "piqa",
    "winogrande",
    "lambada_openai",
    "wikitext",
]


def run(*args, timeout=900):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, env=env
    )


def results_file(folder):
    files = list(folder.rglob("results_*.json"))
    assert len(files) == 1, files
    return json.loads(files[0].read_text())


def test_lm_eval_runs_every_isa_of_every_benchmark(tiny_model_dir, tmp_path):
    groups = ",".join(f"isa_{b}" for b in BENCHMARKS)
    out = tmp_path / "out"
    proc = run(
        "lm_eval",
        "--model",
        "llmcpu",
        "--model_args",
        f"pretrained={tiny_model_dir}",
        "--tasks",
        groups,
        "--limit",
        "2",
        "--output_path",
        str(out),
        "--log_samples",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = results_file(out)
    for bench in BENCHMARKS:
        for isa in KNOWN_ISAS:
            task = f"isa_{isa}_{bench}"
            assert task in results["results"], task
            spec = results["configs"][task]["metadata"]["llmcpu_isa"]
            assert spec.split(":")[0] == isa
            assert f"-{task}|" in proc.stdout.replace(" ", "")
    metadata = results["configs"]["isa_permuted_piqa"]["metadata"]
    assert metadata["llmcpu_isa"] == "permuted:seed=0"
    assert metadata["llmcpu_data"] == "bundled (validation: 500 rows)"
    assert "bundled with llmcpu-eval" in proc.stderr
    wikitext = results["results"]["isa_chars_wikitext"]
    assert wikitext["bits_per_byte,none"] > 0
    assert len(list(out.rglob("samples_isa_bytes_piqa_*.jsonl"))) == 1
    assert results["config"]["llmcpu_fingerprint"].startswith("sha256:")

    # Portability: printed under lm-eval's tables and kept in the JSON.
    table = proc.stdout.split("Portability (retention", 1)[1]
    assert "| wikitext | chars | bare | bits_per_byte | 2 |" in table
    rows = results["llmcpu_portability"]
    shown = {(r["benchmark"], r["isa"].split(":")[0]) for r in rows}
    wanted = {(b, i) for b in BENCHMARKS for i in KNOWN_ISAS if i != "native"}
    assert shown == wanted
    assert all(r["paired"] and r["n"] == 2 for r in rows)
    metrics = {r["benchmark"]: r["metric"] for r in rows}
    assert metrics["wikitext"] == "bits_per_byte"
    assert metrics["lambada_openai"] == metrics["winogrande"] == "acc"
    assert metrics["hellaswag"] == "acc_norm"


def test_model_hf_refuses_an_isa_task_before_scoring(tiny_model_dir):
    proc = run(
        "lm_eval",
        "--model",
        "hf",
        "--model_args",
        f"pretrained={tiny_model_dir}",
        "--device",
        "cpu",
        "--tasks",
        "isa_permuted_piqa",
        "--limit",
        "2",
    )
    assert proc.returncode != 0
    assert "Run it with --model llmcpu" in proc.stderr
    assert "Running loglikelihood requests" not in proc.stderr


def test_default_model_runs_isa_hellaswag(tmp_path, smollm2_path):
    """SmolLM2-135M-Instruct, the embedded default, on a few documents."""
    out = tmp_path / "out"
    proc = run(
        "lm_eval",
        "--model",
        "llmcpu",
        "--tasks",
        "isa_hellaswag",
        "--limit",
        "3",
        "--output_path",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = results_file(out)
    assert results["config"]["model"] == "llmcpu"
    for isa in KNOWN_ISAS:
        acc = results["results"][f"isa_{isa}_hellaswag"]["acc_norm,none"]
        assert 0.0 <= acc <= 1.0
    assert results["config"]["llmcpu_model"] == "SmolLM2-135M-Instruct"
    # Named after the default model, not lm-eval's random id.
    assert [p.name for p in out.iterdir()] == ["SmolLM2-135M-Instruct"]


def test_llmcpu_eval_lists_isas_and_rejects_unknown_ones():
    listed = run(sys.executable, "-m", "llmcpu_eval.cli", "isas")
    assert listed.stdout.split() == [
        "native",
        "permuted:seed=0",
        "chars",
        "bytes",
        "dropout:p=0.1,seed=0",
    ]
    bad = run(sys.executable, "-m", "llmcpu_eval.cli", "encode", "--isa", "rot13", "hi")
    assert bad.returncode == 2
    assert "Unknown ISA 'rot13'" in bad.stderr and "Known ISAs" in bad.stderr


@pytest.mark.parametrize("name", ["llmcpu", "hf"])
def test_plain_python_finds_the_model_beside_lm_evals_own(name):
    code = (
        "from lm_eval.api.registry import get_model; "
        f"print(get_model({name!r}).__name__)"
    )
    proc = run(sys.executable, "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() in {"LLMCPU", "HFLM"}
