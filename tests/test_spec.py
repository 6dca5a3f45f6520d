import pytest

from llmcpu_eval.spec import ISA_DEFAULTS, ISASpecError, canonical, parse_spec


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("native", "native"),
        ("permuted", "permuted:seed=0"),
        ("permuted:seed=7", "permuted:seed=7"),
        (" chars ", "chars"),
        ("bytes", "bytes"),
        ("dropout", "dropout:p=0.1,seed=0"),
        ("dropout:seed=2,p=0.25", "dropout:p=0.25,seed=2"),
    ],
)
def test_canonical_fills_defaults_in_fixed_order(spec, expected):
    assert canonical(spec) == expected
    assert canonical(expected) == expected


def test_defaults_live_in_one_table():
    assert parse_spec("permuted").get("seed") == ISA_DEFAULTS["permuted"]["seed"]
    assert parse_spec("dropout").get("p") == ISA_DEFAULTS["dropout"]["p"]


def test_unknown_isa_lists_the_known_ones():
    with pytest.raises(
        ISASpecError,
        match=r"Unknown ISA 'rot13'.*native, permuted, chars, bytes, dropout",
    ):
        parse_spec("rot13")


def test_every_problem_is_reported_at_once():
    with pytest.raises(ISASpecError) as err:
        parse_spec("dropout:p=2,seed=x,q=1")
    message = str(err.value)
    assert "p=2.0 must be in [0, 1)" in message
    assert "seed='x'" in message and "not an integer" in message
    assert "'q=1' is not a parameter of ISA 'dropout'" in message


def test_parameters_of_an_isa_without_any():
    with pytest.raises(ISASpecError, match="parameters: none"):
        parse_spec("chars:seed=1")


@pytest.mark.parametrize("bad", ["", "   ", None, 3])
def test_empty_or_non_string_spec(bad):
    with pytest.raises(ISASpecError, match="non-empty string"):
        parse_spec(bad)
