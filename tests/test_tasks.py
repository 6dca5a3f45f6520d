"""ISA task configs keep the upstream benchmark's data, prompt and metrics."""

import inspect
from pathlib import Path

import lm_eval.tasks
import pytest
from lm_eval.tasks import TaskManager
from lm_eval.tasks._yaml_loader import load_yaml

from llmcpu_eval.plugin import tasks_dir
from llmcpu_eval.spec import KNOWN_ISAS, ISASpecError
from llmcpu_eval.task import ISATask

UPSTREAM = Path(lm_eval.tasks.__file__).parent
UPSTREAM_YAML = {
    "hellaswag": "hellaswag/hellaswag.yaml",
    "arc_easy": "arc/arc_easy.yaml",
    "piqa": "piqa/piqa.yaml",
    "winogrande": "winogrande/default.yaml",
    "lambada_openai": "lambada/lambada_openai.yaml",
    "wikitext": "wikitext/wikitext.yaml",
}
KEPT = [
    "dataset_path",
    "dataset_name",
    "output_type",
    "training_split",
    "validation_split",
    "test_split",
    "process_docs",
    "doc_to_text",
    "doc_to_target",
    "doc_to_choice",
    "process_results",
    "metric_list",
    "should_decontaminate",
    "doc_to_decontamination_query",
]


def _comparable(value):
    if callable(value):
        return value.__name__, Path(inspect.getsourcefile(value)).resolve()
    return value


@pytest.mark.parametrize("bench", list(UPSTREAM_YAML))
@pytest.mark.parametrize("isa", KNOWN_ISAS)
def test_isa_task_keeps_the_upstream_config(bench, isa):
    ours = load_yaml(tasks_dir() / bench / f"isa_{isa}_{bench}.yaml")
    upstream = load_yaml(UPSTREAM / UPSTREAM_YAML[bench])
    for key in KEPT:
        assert _comparable(ours.get(key)) == _comparable(upstream.get(key)), key
    assert ours["task"] == f"isa_{isa}_{bench}"
    assert ours["metadata"]["llmcpu_isa"] == isa


def test_every_group_holds_every_isa():
    manager = TaskManager(include_defaults=False)
    for benchmark in UPSTREAM_YAML:
        group = load_yaml(tasks_dir() / benchmark / f"isa_{benchmark}.yaml")
        assert group["task"] == [f"isa_{i}_{benchmark}" for i in KNOWN_ISAS]
        assert f"isa_{benchmark}" in manager.all_groups


def test_unknown_isa_in_a_task_lists_the_known_ones():
    config = {"task": "isa_rot13_piqa", "metadata": {"llmcpu_isa": "rot13"}}
    with pytest.raises(ISASpecError, match="Known ISAs: native, permuted"):
        ISATask(config=config)


def test_task_without_isa_metadata_says_what_to_add():
    with pytest.raises(ValueError, match="has no metadata.llmcpu_isa"):
        ISATask(config={"task": "x", "metadata": {}})
