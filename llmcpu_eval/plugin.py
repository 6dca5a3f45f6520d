"""Make plain ``lm_eval`` find the llmcpu model and the ISA tasks.

lm-eval reads no entry points: its models come from a fixed registry
and its tasks from its own folder plus ``--include_path``. The wheel
ships ``llmcpu_eval_plugin.pth``, which runs :func:`install` when
Python starts. That only adds an import hook (cheap, no lm_eval or
torch import); when lm-eval's registry or task manager is imported,
the hook registers ``--model llmcpu`` (lazily, beside lm-eval's own
models), adds this package's task folder to every TaskManager, and
names the results folder of the embedded default model after it.
"""

import importlib.abc
import importlib.machinery
import sys
from pathlib import Path

MODEL_NAME = "llmcpu"
MODEL_TARGET = "llmcpu_eval.model:LLMCPU"


def tasks_dir() -> Path:
    """The ISA task YAML folder: inside the wheel, or the source checkout's."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "tasks", here.parent / "tasks"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"no tasks folder next to {here}")


def register_model(models_module) -> None:
    # Hooked on lm_eval.models, not on the registry: lm-eval fills an
    # empty registry by importing lm_eval.models, and a registry that
    # held only llmcpu would never get its built-in models (hf, vllm).
    from lm_eval.api.registry import model_registry

    if MODEL_NAME not in model_registry:
        model_registry.register(MODEL_NAME, target=MODEL_TARGET)


def patch_task_manager(manager_module) -> None:
    cls = manager_module.TaskManager
    if getattr(cls.__init__, "_llmcpu", False):
        return
    original = cls.__init__

    def __init__(self, *args, include_path=None, **kwargs):
        paths = (
            include_path if isinstance(include_path, (list, tuple)) else [include_path]
        )
        paths = [p for p in paths if p]
        ours = tasks_dir()
        if all(Path(p).resolve() != ours for p in paths):
            paths.append(str(ours))
        original(self, *args, include_path=paths, **kwargs)

    __init__._llmcpu = True
    cls.__init__ = __init__


def patch_results_naming(tracker_module) -> None:
    # lm-eval names the --output_path subfolder after pretrained= and
    # falls back to a random id; without pretrained= llmcpu runs the
    # embedded default model, so name the folder after it.
    cls = tracker_module.GeneralConfigTracker
    if getattr(cls.log_experiment_args, "_llmcpu", False):
        return
    original = cls.log_experiment_args

    def log_experiment_args(self, model_source, model_args, *args, **kwargs):
        original(self, model_source, model_args, *args, **kwargs)
        if model_source == MODEL_NAME and cls._get_model_name(model_args) is None:
            from llmcpu_eval.default_model import DEFAULT_MODEL_NAME

            self.model_name = DEFAULT_MODEL_NAME
            self.model_name_sanitized = tracker_module.sanitize_model_name(
                DEFAULT_MODEL_NAME
            )

    log_experiment_args._llmcpu = True
    cls.log_experiment_args = log_experiment_args


PORTABILITY_KEY = "llmcpu_portability"


def patch_evaluator(evaluator_module) -> None:
    # simple_evaluate returns the results dict that lm_eval prints and
    # saves: add the portability rows to it, so the results JSON holds
    # them next to lm-eval's own scores.
    original = evaluator_module.simple_evaluate
    if getattr(original, "_llmcpu", False):
        return

    def simple_evaluate(*args, **kwargs):
        results = original(*args, **kwargs)
        if isinstance(results, dict) and results.get("configs"):
            from llmcpu_eval.portability import portability_rows

            rows = portability_rows(results, results.get("samples"))
            if rows:
                results[PORTABILITY_KEY] = [r.as_dict() for r in rows]
        return results

    simple_evaluate._llmcpu = True
    simple_evaluate.__wrapped__ = original
    simple_evaluate.__doc__ = original.__doc__
    evaluator_module.simple_evaluate = simple_evaluate


def patch_make_table(utils_module) -> None:
    # lm_eval prints make_table(results), then make_table(results,
    # "groups") if there are groups: the portability table goes under
    # the last of them.
    original = utils_module.make_table
    if getattr(original, "_llmcpu", False):
        return

    def make_table(result_dict, column="results", *args, **kwargs):
        table = original(result_dict, column, *args, **kwargs)
        rows = (
            result_dict.get(PORTABILITY_KEY) if isinstance(result_dict, dict) else None
        )
        last = column == "groups" or "groups" not in result_dict
        if rows and last:
            from llmcpu_eval.portability import Row, format_table

            table += "\nPortability (retention = (ISA - chance) / (native - chance);"
            table += " bits_per_byte: native / ISA)\n"
            table += format_table([Row(**r) for r in rows]) + "\n"
        return table

    make_table._llmcpu = True
    utils_module.make_table = make_table


_HOOKS = {
    "lm_eval.models": register_model,
    "lm_eval.tasks.manager": patch_task_manager,
    "lm_eval.loggers.evaluation_tracker": patch_results_naming,
    "lm_eval.evaluator": patch_evaluator,
    "lm_eval.utils": patch_make_table,
}


class _Loader(importlib.abc.Loader):
    """Runs the real loader, then our hook on the fresh module."""

    def __init__(self, loader, hook):
        self._loader, self._hook = loader, hook

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        self._hook(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        hook = _HOOKS.get(name)
        if hook is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _Loader(spec.loader, hook)
        return spec


def install() -> None:
    """Hook lm-eval; modules imported already are patched at once."""
    for name, hook in _HOOKS.items():
        if name in sys.modules:
            hook(sys.modules[name])
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
