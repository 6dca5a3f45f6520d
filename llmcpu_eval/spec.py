"""ISA spec strings: parsing, defaults and the canonical form.

An ISA spec names an instruction set and its parameters, e.g.
``permuted:seed=0`` or ``dropout:p=0.1,seed=0``. Every default
parameter lives in :data:`ISA_DEFAULTS`, so ``permuted`` and
``permuted:seed=0`` are the same ISA and print the same way.
"""

from dataclasses import dataclass

# The one place where default ISA parameters are set.
ISA_DEFAULTS: dict[str, dict[str, float | int]] = {
    "native": {},
    "permuted": {"seed": 0},
    "chars": {},
    "bytes": {},
    "dropout": {"p": 0.1, "seed": 0},
}

KNOWN_ISAS = tuple(ISA_DEFAULTS)


class ISASpecError(ValueError):
    """An ISA spec string that cannot be parsed or is out of range."""


@dataclass(frozen=True)
class ISASpec:
    """A parsed ISA spec with every parameter filled in.

    >>> str(parse_spec("dropout:seed=3"))
    'dropout:p=0.1,seed=3'
    """

    name: str
    params: tuple[tuple[str, float | int], ...] = ()

    def __str__(self) -> str:
        if not self.params:
            return self.name
        args = ",".join(f"{k}={v}" for k, v in self.params)
        return f"{self.name}:{args}"

    def get(self, key: str):
        return dict(self.params)[key]


def _convert(name: str, key: str, raw: str, default):
    kind = type(default)
    try:
        value = kind(raw)
    except ValueError:
        return None, (
            f"{key}={raw!r} in ISA {name!r} is not "
            f"{'an integer' if kind is int else 'a number'}"
        )
    if key == "seed" and value < 0:
        return None, f"seed={value} must be 0 or more"
    if key == "p" and not 0.0 <= value < 1.0:
        return None, f"p={value} must be in [0, 1)"
    return value, None


def parse_spec(spec: "str | ISASpec") -> ISASpec:
    """Parse an ISA spec string; raise ISASpecError naming every problem."""
    if isinstance(spec, ISASpec):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ISASpecError(
            f"ISA spec must be a non-empty string, got {spec!r}. "
            f"Known ISAs: {', '.join(KNOWN_ISAS)}."
        )
    name, _, arg_text = spec.strip().partition(":")
    name = name.strip()
    if name not in ISA_DEFAULTS:
        raise ISASpecError(
            f"Unknown ISA {name!r} in spec {spec!r}. "
            f"Known ISAs: {', '.join(KNOWN_ISAS)} "
            "(for example 'permuted:seed=0' or 'dropout:p=0.1,seed=0')."
        )

    defaults = ISA_DEFAULTS[name]
    values = dict(defaults)
    problems = []
    for item in filter(None, (a.strip() for a in arg_text.split(","))):
        key, eq, raw = (s.strip() for s in item.partition("="))
        if not eq or key not in defaults:
            allowed = ", ".join(defaults) or "none"
            problems.append(
                f"{item!r} is not a parameter of ISA {name!r} (parameters: {allowed})"
            )
            continue
        value, problem = _convert(name, key, raw, defaults[key])
        if problem:
            problems.append(problem)
        else:
            values[key] = value

    if problems:
        raise ISASpecError(f"Bad ISA spec {spec!r}: " + "; ".join(problems) + ".")
    return ISASpec(name, tuple(values.items()))


def canonical(spec: "str | ISASpec") -> str:
    """Canonical spec string, e.g. ``canonical('permuted') == 'permuted:seed=0'``."""
    return str(parse_spec(spec))
