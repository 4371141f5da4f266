"""cmp.yaml11.resolve_plain types a plain scalar exactly as go-yaml v2 (so Argo CD) does.

The table pins each rule; the same table and a hypothesis property are then checked against the
Go oracle, so the table cannot drift from the real resolver.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import objects

from cmp.yaml11 import is_plain_string, resolve_plain

Oracle = Callable[[bytes], list[dict[str, Any]]]
INF = float("inf")

RESOLVE = [
    # go-yaml v2's bool table, wider than YAML 1.2 and than PyYAML
    pytest.param("y", "bool", True, id="y-is-true"),
    pytest.param("Y", "bool", True, id="Y-is-true"),
    pytest.param("n", "bool", False, id="n-is-false"),
    pytest.param("N", "bool", False, id="N-is-false"),
    pytest.param("yes", "bool", True, id="yes-is-true"),
    pytest.param("NO", "bool", False, id="NO-is-false"),
    pytest.param("on", "bool", True, id="on-is-true"),
    pytest.param("Off", "bool", False, id="Off-is-false"),
    pytest.param("True", "bool", True, id="True-is-true"),
    pytest.param("tRUE", "str", "tRUE", id="mixed-case-true-is-a-string"),
    pytest.param("oN", "str", "oN", id="mixed-case-on-is-a-string"),
    # nulls
    pytest.param("", "null", None, id="empty-is-null"),
    pytest.param("~", "null", None, id="tilde-is-null"),
    pytest.param("Null", "null", None, id="Null-is-null"),
    pytest.param("nULL", "str", "nULL", id="mixed-case-null-is-a-string"),
    # integers: Go's ParseInt with base 0, underscores removed first
    pytest.param("0", "int", 0, id="zero"),
    pytest.param("-17", "int", -17, id="negative"),
    pytest.param("+17", "int", 17, id="plus-sign"),
    pytest.param("017", "int", 15, id="leading-zero-is-octal"),
    pytest.param("08", "float", 8.0, id="08-is-not-octal-but-a-float"),
    pytest.param("0800", "float", 800.0, id="0800-is-a-float"),
    pytest.param("0o17", "int", 15, id="0o-octal"),
    pytest.param("0O17", "int", 15, id="0O-octal"),
    pytest.param("0X1F", "int", 31, id="0X-hex"),
    pytest.param("0x1f", "int", 31, id="0x-hex"),
    pytest.param("0b101", "int", 5, id="0b-binary"),
    pytest.param("-0b101", "int", -5, id="negative-binary"),
    pytest.param("1_000", "int", 1000, id="underscores-dropped"),
    pytest.param("0x", "str", "0x", id="bare-hex-prefix-is-a-string"),
    pytest.param("0o8", "str", "0o8", id="bad-octal-digit-is-a-string"),
    pytest.param("0x1G", "str", "0x1G", id="bad-hex-digit-is-a-string"),
    # int64 / uint64 edges
    pytest.param("9223372036854775807", "int", 2**63 - 1, id="int64-max"),
    pytest.param("-9223372036854775808", "int", -(2**63), id="int64-min"),
    pytest.param("9223372036854775808", "int", 2**63, id="beyond-int64-is-uint64"),
    pytest.param("18446744073709551615", "int", 2**64 - 1, id="uint64-max"),
    pytest.param("0xFFFFFFFFFFFFFFFF", "int", 2**64 - 1, id="uint64-max-hex"),
    pytest.param("18446744073709551616", "float", 2.0**64, id="beyond-uint64-is-a-float"),
    pytest.param("-9223372036854775809", "float", -(2.0**63), id="below-int64-is-a-float"),
    pytest.param("0x10000000000000000", "str", "0x10000000000000000", id="huge-hex-is-a-string"),
    # floats: the YAML-style pattern, or Go's ParseFloat after a leading dot
    pytest.param("1e3", "float", 1000.0, id="exponent-without-dot"),
    pytest.param("1e+06", "float", 1e6, id="exponent-with-plus"),
    pytest.param("1.5E-3", "float", 0.0015, id="upper-exponent"),
    pytest.param("-.5", "float", -0.5, id="negative-leading-dot"),
    pytest.param("+.5", "float", 0.5, id="plus-leading-dot"),
    pytest.param(".5", "float", 0.5, id="leading-dot"),
    pytest.param(".5e3", "float", 500.0, id="leading-dot-exponent"),
    pytest.param(".5_0", "float", 0.5, id="leading-dot-underscore-between-digits"),
    pytest.param("._5", "str", "._5", id="leading-dot-underscore-first"),
    pytest.param("1.", "float", 1.0, id="trailing-dot"),
    pytest.param("1_0.5", "float", 10.5, id="underscore-in-float"),
    pytest.param("1e400", "str", "1e400", id="overflowing-float-is-a-string"),
    pytest.param(".1e400", "str", ".1e400", id="overflowing-dot-float-is-a-string"),
    pytest.param("1e", "str", "1e", id="dangling-exponent"),
    pytest.param("0x1p3", "str", "0x1p3", id="go-hex-float-is-a-string"),
    pytest.param(".inf", "float", INF, id="inf"),
    pytest.param("-.Inf", "float", -INF, id="negative-inf"),
    pytest.param("+.INF", "float", INF, id="plus-inf"),
    pytest.param("inf", "str", "inf", id="inf-without-dot-is-a-string"),
    pytest.param(".infinity", "str", ".infinity", id="dot-infinity-is-a-string"),
    # strings PyYAML would type differently, and things go-yaml v2 does not resolve at all
    pytest.param("=", "str", "=", id="equals-sign-is-a-string"),
    pytest.param("<<", "str", "<<", id="merge-key-text-is-a-string-as-a-value"),
    pytest.param("2001-02-30", "str", "2001-02-30", id="impossible-date"),
    pytest.param("2001-02-03", "str", "2001-02-03", id="date-comes-back-as-string"),
    pytest.param("1:20", "str", "1:20", id="no-sexagesimal"),
    pytest.param("+", "str", "+", id="lone-plus"),
    pytest.param("-", "str", "-", id="lone-minus"),
    pytest.param(".", "str", ".", id="lone-dot"),
    pytest.param("v1", "str", "v1", id="ordinary-word"),
    pytest.param("1.2.3", "str", "1.2.3", id="version-string"),
]


@pytest.mark.parametrize(("text", "kind", "value"), RESOLVE)
def test_resolve_plain(text: str, kind: str, value: object) -> None:
    got_kind, got_value = resolve_plain(text)
    assert got_kind == kind
    assert got_value == value
    assert type(got_value) is type(value)
    assert is_plain_string(text) == (kind == "str")


def test_nan_is_a_float() -> None:
    kind, value = resolve_plain(".NaN")
    assert kind == "float"
    assert isinstance(value, float)
    assert math.isnan(value)


def _argocd_values(oracle: Oracle, texts: list[str]) -> list[Any]:
    """What Argo CD reads for each text written as a plain mapping value."""
    body = "".join(f"k{i}: {t}\n" for i, t in enumerate(texts))
    (obj,) = objects(oracle(f"kind: T\n{body}".encode()))
    return [obj[f"k{i}"] for i in range(len(texts))]


def _agrees(text: str, argocd: Any) -> bool:
    """Whether resolve_plain's answer is what Argo CD read (ints and floats both come as JSON
    numbers after the second read, so numbers are compared by value)."""
    kind, value = resolve_plain(text)
    if kind == "str":
        return argocd == text
    if kind in ("bool", "null"):
        return argocd is value
    if kind in ("int", "float"):
        assert isinstance(value, int | float)
        if not isinstance(argocd, int | float) or isinstance(argocd, bool):
            return False
        return argocd == value if kind == "int" else float(argocd) == value
    return False


def _single_plain_scalar(text: str) -> bool:
    """True when ``k: text`` is one plain scalar with exactly that text (to PyYAML's reading)."""
    try:
        node = yaml.compose(f"k: {text}\n", Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return False
    if not isinstance(node, yaml.MappingNode) or len(node.value) != 1:
        return False
    value = node.value[0][1]
    return isinstance(value, yaml.ScalarNode) and value.style is None and value.value == text


_ORACLE_TABLE = [
    p.values[0]
    for p in RESOLVE
    if p.values[0] not in (".inf", "-.Inf", "+.INF", "")  # JSON has no infinity
    and _single_plain_scalar(str(p.values[0]))
]


def test_table_agrees_with_argocd(oracle: Oracle) -> None:
    assert len(_ORACLE_TABLE) > 60
    got = _argocd_values(oracle, _ORACLE_TABLE)
    wrong = [(t, g) for t, g in zip(_ORACLE_TABLE, got, strict=True) if not _agrees(t, g)]
    assert wrong == []


NUMBERISH = st.text(alphabet="0123456789+-._eExXoObB", min_size=1, max_size=12).filter(
    _single_plain_scalar
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(NUMBERISH, min_size=1, max_size=40, unique=True))
def test_resolve_plain_agrees_with_argocd_on_number_like_text(
    oracle: Oracle, texts: list[str]
) -> None:
    got = _argocd_values(oracle, texts)
    wrong = [(t, g) for t, g in zip(texts, got, strict=True) if not _agrees(t, g)]
    assert wrong == [], json.dumps(wrong)


@given(st.integers(min_value=-(2**63), max_value=2**64 - 1))
def test_every_int64_or_uint64_is_an_int(number: int) -> None:
    assert resolve_plain(str(number)) == ("int", number)
    assert resolve_plain(f"{number:_}") == ("int", number)


@given(st.text(max_size=20))
def test_resolve_plain_never_raises_and_keeps_strings(text: str) -> None:
    kind, value = resolve_plain(text)
    if kind == "str":
        assert value == text
