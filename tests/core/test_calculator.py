"""The calculator: exact arithmetic, bounded sizes, and one error type whatever the input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.tools.calculator import CalculatorError, evaluate


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("12*34", 408),
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("-7 % 3", 2),
        ("2 ** 10", 1024),
        ("2^10", 1024),
        ("-(3)", -3),
        ("1e3 + 1", 1001),
        ("10 / 4 * 2", 5),
        ("99999999999999999999 * 10", 999999999999999999990),
    ],
)
def test_evaluates_exactly(expression: str, expected: float) -> None:
    assert evaluate(expression) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1/0", "division by zero"),
        ("__import__('os')", "unsupported"),
        ("a + 1", "unsupported"),
        ("2 ** 100000", "exponent"),
        ("9 ** 999 ** 2", "exponent"),
        ("10.0 ** 400", "result"),
        ("(-8) ** 0.5", "real number"),
        ("'a' * 3", "unsupported"),
        ("True + 1", "unsupported"),
        ("", "empty"),
        ("1 +", "not an arithmetic"),
        ("(" * 150 + "1" + ")" * 150, "longer than"),
        ("+".join(["1"] * 99), "more than"),
    ],
)
def test_refuses_with_its_own_error(expression: str, message: str) -> None:
    with pytest.raises(CalculatorError, match=message):
        evaluate(expression)


@given(st.text(max_size=300))
@settings(max_examples=500, deadline=None)
def test_arbitrary_text_gives_a_number_or_a_calculator_error(text: str) -> None:
    try:
        result = evaluate(text)
    except CalculatorError:
        return
    assert isinstance(result, int | float) and not isinstance(result, bool)


_ALPHABET = "0123456789+-*/%().^ e"


@given(st.text(alphabet=_ALPHABET, max_size=120))
@settings(max_examples=500, deadline=None)
def test_arithmetic_looking_text_never_escapes_the_error_type(text: str) -> None:
    try:
        evaluate(text)
    except CalculatorError:
        pass


@given(
    st.integers(-(10**12), 10**12),
    st.integers(-(10**12), 10**12),
    st.sampled_from(["+", "-", "*"]),
)
def test_integer_arithmetic_matches_python(a: int, b: int, op: str) -> None:
    expected = {"+": a + b, "-": a - b, "*": a * b}[op]
    assert evaluate(f"({a}) {op} ({b})") == expected
