"""Benchmark data: hub first, then $LLMCPU_EVAL_DATA, then bundled rows."""

import logging
from pathlib import Path

import datasets
import pytest

import llmcpu_eval.data as data
from llmcpu_eval.data import BENCHMARKS, load_benchmark

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
# A few real rows of each benchmark, in the hub's own schema.
SCHEMAS = {
    ("Rowan/hellaswag", None): {"ctx", "endings", "label", "activity_label"},
    ("allenai/ai2_arc", "ARC-Easy"): {"question", "choices", "answerKey"},
    ("baber/piqa", None): {"goal", "sol1", "sol2", "label"},
    ("allenai/winogrande", "winogrande_xl"): {
        "sentence",
        "option1",
        "option2",
        "answer",
    },
    ("EleutherAI/lambada_openai", "default"): {"text"},
    ("EleutherAI/wikitext_document_level", "wikitext-2-raw-v1"): {"page"},
}


@pytest.mark.parametrize("key", list(BENCHMARKS))
def test_bundled_rows_are_real_and_in_the_hub_schema(key):
    dataset = load_benchmark(*key)
    assert set(dataset) == set(BENCHMARKS[key])
    for split in dataset.values():
        assert len(split) >= 60
        assert SCHEMAS[key] <= set(split.column_names)


def test_winogrande_rows_rebuild_the_original_choices():
    from lm_eval.tasks.winogrande import preprocess_winogrande as upstream

    doc = load_benchmark("allenai/winogrande", "winogrande_xl")["validation"][0]
    assert upstream.doc_to_choice(doc) == [
        "Sarah was a much better surgeon than Maria so Sarah",
        "Sarah was a much better surgeon than Maria so Maria",
    ]
    assert upstream.doc_to_target(doc) == "always got the easier cases."
    assert upstream.doc_to_text(doc) == 1


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data")
def test_data_folder_option_reads_the_full_files(monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(SHARED))
    hellaswag = load_benchmark("Rowan/hellaswag", None)
    assert len(hellaswag["validation"]) == 10042
    piqa = load_benchmark("baber/piqa", None)
    assert len(piqa["validation"]) == 1838


def test_unreachable_hub_falls_back_once_with_a_warning(monkeypatch, caplog):
    for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(flag, raising=False)
    monkeypatch.setattr(data, "_hub_unreachable", False)
    calls = []

    def unreachable(*args, **kwargs):
        calls.append(args)
        raise ConnectionError("Couldn't reach 'baber/piqa' on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with caplog.at_level(logging.WARNING, logger="llmcpu_eval.data"):
        first = load_benchmark("baber/piqa", None)
        load_benchmark("Rowan/hellaswag", None)
    assert len(calls) == 1
    assert "Could not load baber/piqa from the Hugging Face hub" in caplog.text
    assert len(first["validation"]) == 500


def test_unknown_benchmark_in_data_folder_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="no reader for cais/mmlu"):
        load_benchmark("cais/mmlu", "all")


def test_bundled_rows_are_named_as_such_once_per_benchmark(monkeypatch, caplog):
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    monkeypatch.setattr(data, "_warned_bundled", set())
    with caplog.at_level(logging.WARNING, logger="llmcpu_eval.data"):
        _, source = data.load_benchmark_with_source("baber/piqa", None)
        data.load_benchmark_with_source("baber/piqa", None)
    assert source == "bundled (validation: 500 rows)"
    warnings = [r for r in caplog.records if "bundled with llmcpu-eval" in r.message]
    assert len(warnings) == 1
    assert "not all of it" in warnings[0].message
    assert data.DATA_ENV in warnings[0].message


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data")
def test_data_folder_is_named_as_the_source(monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(SHARED))
    _, source = data.load_benchmark_with_source("baber/piqa", None)
    assert source == f"{data.DATA_ENV}={SHARED} (validation: 1838 rows)"
