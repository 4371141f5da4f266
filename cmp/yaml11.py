"""How go-yaml v2, and so Argo CD, types a plain (unquoted) scalar.

PyYAML's resolver follows different rules (``y`` is a string to PyYAML and a boolean to Argo CD),
so confighash never trusts PyYAML's tags for plain scalars and asks :func:`resolve_plain` instead.
The rules are those of go-yaml v2's ``resolve``: a lookup table of bools and nulls, then Go's
``strconv.ParseInt`` with base 0, ``ParseUint``, and a float pattern. Timestamps need no case: in
the decode path Argo CD uses they come back as the original string.
"""

from __future__ import annotations

import re
from typing import Literal

ScalarType = Literal["str", "bool", "int", "float", "null"]

_TABLE: dict[str, tuple[ScalarType, object]] = {
    **{s: ("bool", True) for s in "y Y yes Yes YES on On ON true True TRUE".split()},
    **{s: ("bool", False) for s in "n N no No NO off Off OFF false False FALSE".split()},
    **{s: ("null", None) for s in ["", "~", "null", "Null", "NULL"]},
    **{s: ("float", float("nan")) for s in [".nan", ".NaN", ".NAN"]},
    **{s: ("float", float("inf")) for s in [".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"]},
    **{s: ("float", float("-inf")) for s in ["-.inf", "-.Inf", "-.INF"]},
}
# "<<" is absent on purpose: '<' starts no typed scalar, so a plain "<<" value is a string to
# go-yaml v2 (only a plain "<<" key merges, which nodes.pairs refuses).
_NUMBER_HINT = frozenset("0123456789+-")
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_GO_FLOAT_AFTER_DOT = re.compile(r"\.[0-9](_?[0-9])*([eE][-+]?[0-9](_?[0-9])*)?")
_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1
_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}


def _go_parse_int(text: str, *, signed: bool) -> int | None:
    """``strconv.ParseInt(text, 0, 64)`` (or ``ParseUint``) on a string without underscores."""
    sign = 1
    if text[:1] in ("+", "-"):
        if not signed:
            return None
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    base = 10
    if len(text) > 1 and text[0] == "0":
        prefix = text[1].lower()
        base, skip = {"x": (16, 2), "o": (8, 2), "b": (2, 2)}.get(prefix, (8, 1))
        text = text[skip:]
    if not text or any(c not in _DIGITS[base] for c in text):
        return None
    value = sign * int(text, base)
    low, high = (_INT64_MIN, _INT64_MAX) if signed else (0, _UINT64_MAX)
    return value if low <= value <= high else None


def _finite_float(text: str) -> float | None:
    value = float(text.replace("_", ""))
    return value if value not in (float("inf"), float("-inf")) else None


def resolve_plain(text: str) -> tuple[ScalarType, object]:
    """The type and value go-yaml v2 gives the plain scalar ``text``."""
    hint = text[:1]
    if text in _TABLE:
        return _TABLE[text]
    if hint == ".":
        if _GO_FLOAT_AFTER_DOT.fullmatch(text):
            value = _finite_float(text)
            if value is not None:
                return "float", value
        return "str", text
    if hint not in _NUMBER_HINT:
        return "str", text
    plain = text.replace("_", "")
    for signed in (True, False):
        number = _go_parse_int(plain, signed=signed)
        if number is not None:
            return "int", number
    if _YAML_FLOAT.fullmatch(plain):
        value = _finite_float(plain)
        if value is not None:
            return "float", value
    return "str", text


def is_plain_string(text: str) -> bool:
    """True when ``text`` written unquoted is read back by Argo CD as this same string."""
    return resolve_plain(text)[0] == "str"
