"""The llmcpu model: exact on native, right under every other ISA."""

import logging
from pathlib import Path

import datasets
import lm_eval
import lm_eval.tasks
import pytest
import torch
from lm_eval.api.instance import Instance
from lm_eval.tasks import TaskManager

from llmcpu_eval.data import _local
from llmcpu_eval.isa import build_isa
from llmcpu_eval.task import TASK_ISAS

UPSTREAM = Path(lm_eval.tasks.__file__).parent
BENCHMARKS = [
    "hellaswag",
    "arc_easy",
    "piqa",
    "winogrande",
    "lambada_openai",
    "wikitext",
]
UPSTREAM_DIRS = ["hellaswag", "arc", "piqa", "winogrande", "lambada", "wikitext"]


@pytest.fixture(scope="module")
def task_manager():
    # Only the folders needed: indexing all of lm-eval takes ~15 s.
    paths = [str(UPSTREAM / d) for d in UPSTREAM_DIRS]
    return TaskManager(include_defaults=False, include_path=paths)


@pytest.fixture
def offline_hub(monkeypatch):
    """Upstream tasks read the hub; serve them the bundled rows instead."""

    def load_dataset(path, name=None, **kwargs):
        data = _local(path, name)
        # Upstream tasks build a few-shot sampler from "train" even at 0-shot.
        data["train"] = next(iter(data.values()))
        return data

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)


@pytest.fixture(scope="module")
def tiny_lm(tiny_model_dir):
    from llmcpu_eval.model import LLMCPU

    return LLMCPU(pretrained=str(tiny_model_dir), batch_size=4)


def evaluate(model, model_args, tasks, task_manager, limit=3, **kwargs):
    return lm_eval.simple_evaluate(
        model=model,
        model_args=model_args,
        tasks=tasks,
        limit=limit,
        log_samples=True,
        task_manager=task_manager,
        **kwargs,
    )


def responses(results, task):
    samples = sorted(results["samples"][task], key=lambda s: s["doc_id"])
    return [s["resps"] for s in samples]


def test_native_isa_scores_exactly_like_model_hf(
    tiny_model_dir, task_manager, offline_hub
):
    args = f"pretrained={tiny_model_dir},dtype=float32,device=cpu,batch_size=4"
    native = [f"isa_native_{b}" for b in BENCHMARKS]
    hf = evaluate("hf", args, BENCHMARKS, task_manager, limit=4)
    ours = evaluate("llmcpu", args, native, task_manager, limit=4)
    for upstream, task in zip(BENCHMARKS, native, strict=True):
        assert responses(ours, task) == responses(hf, upstream), task
        assert ours["results"][task] == {
            **hf["results"][upstream],
            "alias": task,
            "name": task,
        }


def test_each_isa_task_gets_its_own_isa_in_any_mix(tiny_model_dir, task_manager):
    args = f"pretrained={tiny_model_dir},batch_size=4"
    mixed = ["isa_native_piqa", "isa_chars_piqa", "isa_dropout_piqa", "isa_bytes_piqa"]
    together = evaluate("llmcpu", args, mixed, task_manager)
    alone = evaluate("llmcpu", args, ["isa_chars_piqa"], task_manager)
    assert responses(together, "isa_chars_piqa") == responses(alone, "isa_chars_piqa")
    # Byte-level BPE spells ASCII the same way under chars and bytes,
    # so those two may agree; every other pair must differ.
    distinct = ["isa_native_piqa", "isa_chars_piqa", "isa_dropout_piqa"]
    scores = {str(responses(together, t)) for t in distinct}
    assert len(scores) == len(distinct)
    configs = together["configs"]
    assert (
        configs["isa_dropout_piqa"]["metadata"]["llmcpu_isa"] == "dropout:p=0.1,seed=0"
    )
    assert configs["isa_native_piqa"]["metadata"]["llmcpu_isa"] == "native"


def test_context_and_continuation_are_encoded_separately(tiny_lm):
    isa = build_isa("dropout:p=0.5,seed=1", tiny_lm.tokenizer)
    context, continuation = "Question: what is a roof?\nAnswer: ", "the top"
    with tiny_lm._using(isa):
        ctx, cont = tiny_lm._encode_pair(context, continuation)
    assert ctx == tiny_lm._special_prefix + isa.encode(context.rstrip())
    assert cont == isa.encode(" " + continuation)


def _instance(kind, args, task, doc_id=0):
    return Instance(kind, doc={}, arguments=args, idx=0, metadata=(task, doc_id, 1))


def test_generate_until_decodes_with_the_isa_and_stops_on_text(tiny_lm):
    TASK_ISAS["unit_chars_gen"] = "chars"
    context, until = "The cat sat on the", ["e"]
    req = _instance(
        "generate_until",
        (context, {"until": until, "max_gen_toks": 24, "do_sample": False}),
        "unit_chars_gen",
    )
    (text,) = tiny_lm.generate_until([req])
    isa = build_isa("chars", tiny_lm.tokenizer)
    ids = torch.tensor([tiny_lm._special_prefix + isa.encode(context)])
    out = tiny_lm.model.generate(ids, max_new_tokens=24, do_sample=False)
    special = set(tiny_lm.tokenizer.all_special_ids)
    new = [i for i in out[0, ids.shape[1] :].tolist() if i not in special]
    expected = isa.decode(new).split("e")[0]
    assert text == expected
    assert "e" not in text


def test_rolling_loglikelihood_runs_under_an_isa(tiny_lm):
    TASK_ISAS["unit_bytes_roll"] = "bytes"
    text = "A short page of text for rolling windows. " * 3
    native, under_bytes = tiny_lm.loglikelihood_rolling(
        [
            _instance("loglikelihood_rolling", (text,), "wikitext"),
            _instance("loglikelihood_rolling", (text,), "unit_bytes_roll"),
        ]
    )
    assert native < 0 and under_bytes < 0 and native != under_bytes


def test_truncation_is_counted_in_one_warning(tiny_model_dir, caplog):
    from llmcpu_eval.model import LLMCPU

    lm = LLMCPU(pretrained=str(tiny_model_dir), max_length=32)
    TASK_ISAS["unit_bytes_trunc"] = "bytes"
    reqs = [
        _instance("loglikelihood", ("x" * (20 + n * 10), " yes"), "unit_bytes_trunc", n)
        for n in range(4)
    ]
    with caplog.at_level(logging.WARNING, logger="llmcpu_eval.model"):
        out = lm.loglikelihood(reqs)
    assert len(out) == 4
    warnings = [r.getMessage() for r in caplog.records if "truncated" in r.getMessage()]
    assert warnings == [
        "3 requests under ISA bytes were longer than max_length=32 tokens "
        "and were truncated from the left, as HFLM does"
    ]


def test_use_cache_is_refused(tiny_model_dir, task_manager, tmp_path):
    with pytest.raises(
        ValueError, match="--use_cache is not supported with --model llmcpu"
    ):
        evaluate(
            "llmcpu",
            f"pretrained={tiny_model_dir}",
            ["isa_chars_piqa"],
            task_manager,
            use_cache=str(tmp_path / "cache"),
        )


@pytest.mark.parametrize(
    "option, layer, isa",
    [
        ("load_in_4bit", "Linear4bit", "chars"),
        ("load_in_8bit", "Linear8bitLt", "bytes"),
    ],
)
def test_bitsandbytes_quantizes_on_cpu(tiny_model_dir, option, layer, isa):
    pytest.importorskip("bitsandbytes")
    from llmcpu_eval.model import LLMCPU

    lm = LLMCPU(pretrained=str(tiny_model_dir), **{option: True})
    kinds = {type(m).__name__ for m in lm.model.modules()}
    assert layer in kinds
    task = f"unit_{isa}_{option}"
    TASK_ISAS[task] = isa
    ((logprob, _),) = lm.loglikelihood(
        [_instance("loglikelihood", ("The roof", " is red"), task)]
    )
    assert torch.isfinite(torch.tensor(logprob))


def test_load_in_4bit_and_8bit_together_is_refused():
    from llmcpu_eval.model import bnb_config

    with pytest.raises(ValueError, match="choose one"):
        bnb_config({"load_in_4bit": True, "load_in_8bit": True})


def test_peft_adapter_option_passes_through(tiny_model_dir, tmp_path):
    from lm_eval.models.huggingface import HFLM
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from llmcpu_eval.model import LLMCPU

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    torch.manual_seed(1)
    # Random B as well as A, so the adapter changes the scores.
    config = LoraConfig(
        r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    get_peft_model(base, config).save_pretrained(tmp_path / "adapter")

    request = ("The roof of the house", " is red")
    args = {"pretrained": str(tiny_model_dir), "peft": str(tmp_path / "adapter")}
    with_adapter = LLMCPU(**args).loglikelihood(
        [_instance("loglikelihood", request, "x")]
    )
    upstream = HFLM(device="cpu", **args).loglikelihood(
        [_instance("loglikelihood", request, "x")]
    )
    bare = LLMCPU(pretrained=str(tiny_model_dir)).loglikelihood(
        [_instance("loglikelihood", request, "x")]
    )
    assert with_adapter == upstream
    assert with_adapter != bare


def test_gguf_file_option_passes_through(smollm2_path):
    from llmcpu_eval.default_model import gguf_path
    from llmcpu_eval.model import LLMCPU

    source = gguf_path()
    lm = LLMCPU(pretrained=str(source.parent), gguf_file=source.name, batch_size=1)
    converted = LLMCPU(pretrained=str(smollm2_path), batch_size=1)
    request = _instance("loglikelihood", ("The capital of France is", " Paris"), "x")
    ((from_gguf, _),) = lm.loglikelihood([request])
    ((from_checkout, _),) = converted.loglikelihood([request])
    assert from_gguf == pytest.approx(from_checkout, abs=1e-4)
