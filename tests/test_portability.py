"""Retention, paired bootstrap intervals and the aggregate fallback."""

import math

import numpy as np
import pytest

from llmcpu_eval.portability import (
    Row,
    format_table,
    portability_rows,
    retention,
    split_task_name,
)


def _mc_samples(correct, choices=4):
    """lm-eval-style samples of a multiple-choice task."""
    return [
        {
            "doc_id": n,
            "filter": "none",
            "filtered_resps": [["-1.0", "False"]] * choices,
            "acc": float(ok),
            "acc_norm": float(ok),
        }
        for n, ok in enumerate(correct)
    ]


def _results(tasks, metric="acc_norm"):
    """A results dict with the configs lm-eval writes for ISA tasks."""
    return {
        "results": {
            t: {"sample_len": n, f"{metric},none": v, "acc,none": v}
            for t, (spec, v, n) in tasks.items()
        },
        "configs": {
            t: {"metadata": {"version": 1.0, "llmcpu_isa": spec}}
            for t, (spec, v, n) in tasks.items()
        },
    }


def test_retention_is_one_at_native_and_zero_at_chance():
    assert retention(0.6, native=0.6, chance=0.25) == 1.0
    assert retention(0.25, native=0.6, chance=0.25) == 0.0
    assert retention(0.40, native=0.50, chance=0.25) == 0.6
    assert math.isnan(retention(0.3, native=0.25, chance=0.25))


@pytest.mark.parametrize(
    "task, spec, expected",
    [
        ("isa_permuted_arc_easy", "permuted:seed=0", "arc_easy"),
        ("isa_dropout_lambada_openai", "dropout:p=0.1,seed=0", "lambada_openai"),
        ("isa_chars_wikitext", "chars", "wikitext"),
        ("hellaswag", "chars", None),
    ],
)
def test_split_task_name(task, spec, expected):
    assert split_task_name(task, spec) == expected


def test_paired_rows_match_a_direct_computation():
    rng = np.random.default_rng(3)
    native = rng.random(300) < 0.6
    isa = rng.random(300) < 0.4
    results = _results(
        {
            "isa_native_hellaswag": ("native", native.mean(), 300),
            "isa_chars_hellaswag": ("chars", isa.mean(), 300),
        }
    )
    samples = {
        "isa_native_hellaswag": _mc_samples(native),
        "isa_chars_hellaswag": _mc_samples(isa),
    }

    (row,) = portability_rows(results, samples)

    expected = (isa.mean() - 0.25) / (native.mean() - 0.25)
    assert row.paired and row.n == 300 and row.chance == 0.25
    assert row.metric == "acc_norm" and row.isa == "chars"
    assert row.retention == pytest.approx(expected)
    assert row.ci_low < row.retention < row.ci_high
    # About +-2 standard errors of a ratio of two means over 300 docs.
    assert 0.2 < row.ci_high - row.ci_low < 1.2
    again = portability_rows(results, samples)[0]
    assert (again.ci_low, again.ci_high) == (row.ci_low, row.ci_high)


def test_pairing_uses_only_documents_both_tasks_scored():
    native = _mc_samples([1, 1, 1, 0])
    isa = _mc_samples([1, 0])
    results = _results(
        {
            "isa_native_piqa": ("native", 0.75, 4),
            "isa_bytes_piqa": ("bytes", 0.5, 2),
        }
    )
    (row,) = portability_rows(
        results, {"isa_native_piqa": native, "isa_bytes_piqa": isa}
    )
    assert row.n == 2 and row.native == 1.0 and row.score == 0.5


def test_chance_comes_from_each_documents_number_of_choices():
    # Document 0 has two choices, document 1 has four.
    native, isa = _mc_samples([1, 1], choices=2), _mc_samples([0, 0], choices=2)
    for samples in (native, isa):
        samples[1]["filtered_resps"] = [["-1", "False"]] * 4
    results = _results(
        {
            "isa_native_arc_easy": ("native", 1.0, 2),
            "isa_permuted_arc_easy": ("permuted:seed=0", 0.0, 2),
        }
    )
    (row,) = portability_rows(
        results,
        {"isa_native_arc_easy": native, "isa_permuted_arc_easy": isa},
    )
    assert row.chance == pytest.approx((0.5 + 0.25) / 2)


def test_bits_per_byte_retention_is_the_ratio_of_bpb():
    def docs(lls):
        return [
            {"doc_id": n, "filter": "none", "bits_per_byte": [ll, 100]}
            for n, ll in enumerate(lls)
        ]

    results = {
        "results": {
            "isa_native_wikitext": {"bits_per_byte,none": 1.0, "sample_len": 3},
            "isa_chars_wikitext": {"bits_per_byte,none": 2.0, "sample_len": 3},
        },
        "configs": {
            "isa_native_wikitext": {"metadata": {"llmcpu_isa": "native"}},
            "isa_chars_wikitext": {"metadata": {"llmcpu_isa": "chars"}},
        },
    }
    native, isa = docs([-60.0, -70.0, -80.0]), docs([-120.0, -150.0, -170.0])
    (row,) = portability_rows(
        results, {"isa_native_wikitext": native, "isa_chars_wikitext": isa}
    )
    assert row.metric == "bits_per_byte" and row.paired
    assert row.native == pytest.approx(210 / 300 / math.log(2))
    assert row.retention == pytest.approx(210 / 440)
    assert row.ci_low <= row.retention <= row.ci_high


def test_without_samples_rows_come_from_aggregates_and_say_so():
    results = _results(
        {
            "isa_native_winogrande": ("native", 0.6, 100),
            "isa_dropout_winogrande": ("dropout:p=0.1,seed=0", 0.55, 100),
        },
        metric="acc",
    )
    (row,) = portability_rows(results)
    assert not row.paired and row.ci_low is None
    assert row.metric == "acc" and row.chance == 0.5
    assert row.retention == pytest.approx(0.5)
    table = format_table([row])
    assert "--log_samples" in table and "| no |" in table


def test_no_native_task_gives_no_row():
    results = _results({"isa_chars_piqa": ("chars", 0.6, 10)})
    assert portability_rows(results) == []


def test_rows_survive_a_json_round_trip():
    row = Row(
        "piqa", "isa_chars_piqa", "chars", "bare", "acc_norm", 4, 0.5,
        0.5, 0.5, math.nan, None, None, False,
    )  # fmt: skip
    data = row.as_dict()
    assert data["retention"] is None
    assert "| piqa | chars |" in format_table([Row(**data)])
