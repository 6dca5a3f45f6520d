"""llmcpu-eval: how portable is a language model across instruction sets?

Importing this package stays cheap (no torch, no lm_eval): the heavy
modules are ``llmcpu_eval.model`` and ``llmcpu_eval.task``.
"""

from llmcpu_eval.spec import ISA_DEFAULTS, KNOWN_ISAS, canonical, parse_spec

__version__ = "0.1.0"

__all__ = ["ISA_DEFAULTS", "KNOWN_ISAS", "canonical", "parse_spec", "__version__"]
