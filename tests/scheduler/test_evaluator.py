from __future__ import annotations

import time
from typing import Any

import pytest

from app.scheduler.evaluator import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_NODES,
    EvaluationError,
    ExpressionError,
    compile_expression,
)

ENV: dict[str, dict[str, Any]] = {
    "capabilities": {
        "total_volumes": 5,
        "count_text": "10",
        "ratio_text": "2.5",
        "thin": True,
        "protocol": "iSCSI",
        "variants": ["iSCSI", "iscsi"],
        "nothing": None,
    },
    "stats": {"free_capacity_gb": 50.0, "total_capacity_gb": 200, "host": "n1@lvm#p"},
    "volume": {"size": 20},
    "qos": {"maxIOPS": "1000"},
    "extra": {"tier": "gold"},
}


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("10 - 4 - 3", 3),
        ("2 ^ 3 ^ 2", 512),  # right-associative
        ("-2 ^ 2", -4),  # the sign binds looser than the power
        ("2 ^ -1", 0.5),
        ("- - 3", 3),
        ("1.5 * 2", 3.0),
        ("1 < 2", True),
        ("1 < 2 < 3", True),  # chained
        ("3 > 2 > 2", False),
        ("2 >= 2 and 2 <= 2 and 2 == 2 and 2 != 3 and 2 <> 3", True),
        ("1 and 0", 0),
        ("0 or 5", 5),
        ("1 AND 1 && 1", 1),
        ("0 OR 0 || 1", 1),
        ("not 0", True),
        ("NOT 1", False),
        ("!0", True),
        ("not 1 + 1", False),  # not binds looser than +
        ("1 ? 10 : 20", 10),
        ("0 ? 10 : 20", 20),
        ("volume.size < 10 ? 100 : max(10, 50 - volume.size)", 30),
        ("1 or 0 ? 5 : 6", 1),  # the ternary binds tighter than or
        ("abs(-4)", 4),
        ("max(1, 5, 3)", 5),
        ("min(4, 2.5)", 2.5),
        ("max(volume.size, capabilities.total_volumes)", 20),
        ("capabilities.total_volumes < 100 and volume.size <= 50", True),
        ("(stats.free_capacity_gb / stats.total_capacity_gb) * 100", 25.0),
        ("capabilities.count_text + 1", 11),  # numeric strings are numbers
        ("capabilities.ratio_text * 2", 5.0),
        ("capabilities.thin", 1),  # bools are 0/1
        ("capabilities.thin == 1", True),
        ("capabilities.protocol == iSCSI", True),  # a bare word is a string
        ("capabilities.protocol == 'iSCSI'", True),
        ('capabilities.protocol != "FC"', True),
        ("qos.maxIOPS >= 1000", True),
        ("extra.tier == gold", True),
        ("stats.host == 'n1@lvm#p'", True),
    ],
)
def test_evaluates_like_cinder(source: str, value: Any) -> None:
    result = compile_expression(source).evaluate(ENV)
    assert result == value
    assert type(result) is type(value)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("1 +", "unexpected"),
        ("(1 + 2", "expected"),
        ("1 2", "after the expression"),
        ("1 $ 2", "unexpected character"),
        ("__import__('os').system('true')", "unexpected"),
        ("foo.bar", "unknown variable"),
        ("capabilities.a.b", "unknown variable"),
        ("max", "parentheses"),
        ("abs(1, 2)", "one argument"),
        ("1 ? 2", "expected ':"),
        ("7 ^ 7 ^ 9", "too large"),  # folded at compile time, never computed
        ("10 ^ 10 ^ 10", "too large"),
        ("1 / 0", "division by zero"),
        ("'a' * 3", "not a number"),
        ("x" * (MAX_LENGTH + 1), "longer than"),
        ("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1), "deeper"),
        ("-" * (MAX_DEPTH + 1) + "1", "deeper"),
        ("1+" * (MAX_NODES // 2 + 1) + "1", "more than"),
    ],
)
def test_refused_at_compile(source: str, reason: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ExpressionError, match=reason):
        compile_expression(source)
    assert time.perf_counter() - started < 1.0  # computing it would take hours


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("volume.missing > 1", "not set"),
        ("capabilities.nothing > 1", "NoneType"),
        ("capabilities.variants == 1", "list"),
        ("volume.size ^ volume.size ^ volume.size", "too large"),
        ("(volume.size * 1.0) ^ 999", "overflows"),
        ("(0 - volume.size) ^ 0.5", "not a real number"),
        ("1 / (volume.size - 20)", "division by zero"),
        ("capabilities.protocol < 5", "cannot compare"),
        ("capabilities.protocol + 1", "not a number"),
        ("max(capabilities.protocol, 1)", "cannot compare"),
    ],
)
def test_fails_per_evaluation(source: str, reason: str) -> None:
    expression = compile_expression(source)
    started = time.perf_counter()
    with pytest.raises(EvaluationError, match=reason):
        expression.evaluate(ENV)
    assert time.perf_counter() - started < 1.0  # computing it would take hours


def test_variables_are_recorded_and_read_each_time() -> None:
    expression = compile_expression("volume.size * 2 + capabilities.total_volumes")
    assert expression.variables == {"volume.size", "capabilities.total_volumes"}
    assert expression.evaluate({"volume": {"size": 1}, "capabilities": {"total_volumes": 0}}) == 2
    assert expression.evaluate({"volume": {"size": 5}, "capabilities": {"total_volumes": 1}}) == 11


def test_the_largest_allowed_expression_is_quick() -> None:
    source = " + ".join(["volume.size * 2"] * 50)
    assert len(source) < MAX_LENGTH
    expression = compile_expression(source)
    started = time.perf_counter()
    for _ in range(100):
        assert expression.evaluate(ENV) == 2000
    assert time.perf_counter() - started < 0.5
