"""Canonical JSON and digests: one byte form per value, whatever the insertion order."""

from __future__ import annotations

import hashlib
import json
import math
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagwright._execution.canonical import (
    MAX_DEPTH,
    NotJSONError,
    canonical_json,
    check_json,
    digest,
)


def test_keys_are_sorted_at_every_level() -> None:
    value = {"b": 1, "a": {"z": [{"y": 1, "x": 2}], "c": None}}
    assert canonical_json(value) == '{"a":{"c":null,"z":[{"x":2,"y":1}]},"b":1}'


def test_key_order_does_not_matter() -> None:
    first = {"alpha": 1, "beta": [1, 2], "gamma": {"x": 1, "y": 2}}
    second = {"gamma": {"y": 2, "x": 1}, "beta": [1, 2], "alpha": 1}
    assert list(first) != list(second)
    assert canonical_json(first) == canonical_json(second)
    assert digest(first) == digest(second)


def test_list_order_matters() -> None:
    assert canonical_json([1, 2]) != canonical_json([2, 1])
    assert digest([1, 2]) != digest([2, 1])


def test_no_insignificant_whitespace() -> None:
    text = canonical_json({"a": [1, 2, {"b": "c d"}], "e": True})
    assert text == '{"a":[1,2,{"b":"c d"}],"e":true}'
    outside_strings = text.replace('"c d"', "")
    assert not any(ch.isspace() for ch in outside_strings)


def test_non_ascii_is_kept_as_is() -> None:
    value = {"name": "Zoë ✓ 日本", "emoji": "🦀"}
    text = canonical_json(value)
    assert "Zoë ✓ 日本" in text
    assert "🦀" in text
    assert "\\u" not in text
    assert text == '{"emoji":"🦀","name":"Zoë ✓ 日本"}'


def test_control_characters_and_quotes_are_escaped() -> None:
    assert canonical_json('a"b\\c\n') == '"a\\"b\\\\c\\n"'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-7, "-7"),
        (1.5, "1.5"),
        ("", '""'),
        ([], "[]"),
        ({}, "{}"),
        ((1, 2), "[1,2]"),
    ],
)
def test_scalars_and_empties(value: Any, text: str) -> None:
    assert canonical_json(value) == text


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        math.inf,
        -math.inf,
        [1.0, math.nan],
        {"a": {"b": math.inf}},
    ],
)
def test_nan_and_infinity_are_refused(value: Any) -> None:
    with pytest.raises(ValueError):
        canonical_json(value)
    with pytest.raises(ValueError):
        digest(value)


def test_non_json_values_are_refused() -> None:
    with pytest.raises(TypeError):
        canonical_json({"a": object()})
    with pytest.raises(TypeError):
        canonical_json({1, 2})


def test_digest_is_sha256_hex_of_the_canonical_text() -> None:
    value = {"b": [1, "é", None], "a": 2.5}
    expected = hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
    assert digest(value) == expected
    assert len(digest(value)) == 64
    assert all(ch in "0123456789abcdef" for ch in digest(value))


def test_known_digest() -> None:
    # sha256 of the two bytes `{}`: pinned so that the byte form can never drift.
    assert digest({}) == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    assert digest({"a": 1}) == hashlib.sha256(b'{"a":1}').hexdigest()


def test_different_values_have_different_digests() -> None:
    assert digest({"a": 1}) != digest({"a": 2})
    assert digest({"a": 1}) != digest({"a": "1"})
    assert digest([None]) != digest([])


# ---------------------------------------------------------------------------------------
# Properties

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
_json_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=6), children, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(value=_json_values)
def test_is_the_standard_encoder_with_sorted_keys(value: Any) -> None:
    expected = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    assert canonical_json(value) == expected
    assert digest(value) == hashlib.sha256(expected.encode()).hexdigest()


def test_threads_encoding_one_value_at_once_never_see_a_cycle() -> None:
    shared = {"rows": [{"k": i, "v": [i] * 20} for i in range(200)]}
    start = threading.Barrier(4, timeout=10)
    texts: list[str] = []

    def encode() -> None:
        start.wait()
        texts.extend(canonical_json(shared) for _ in range(50))

    threads = [threading.Thread(target=encode) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(texts) == 200 and len(set(texts)) == 1


def test_a_cycle_is_refused_not_a_crash() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises((ValueError, RecursionError)):
        canonical_json(loop)


@settings(max_examples=150, deadline=None)
@given(value=_json_values)
def test_round_trips_through_json(value: Any) -> None:
    text = canonical_json(value)
    assert json.loads(text) == value
    # Canonical text is a fixed point: encoding what it decodes to gives it back.
    assert canonical_json(json.loads(text)) == text


@settings(max_examples=150, deadline=None)
@given(
    items=st.dictionaries(st.text(max_size=6), _json_values, min_size=1, max_size=6),
    data=st.data(),
)
def test_insertion_order_never_changes_the_digest(items: dict[str, Any], data: Any) -> None:
    keys = data.draw(st.permutations(list(items)))
    shuffled = {key: items[key] for key in keys}
    assert list(shuffled) == keys
    assert canonical_json(shuffled) == canonical_json(items)
    assert digest(shuffled) == digest(items)
    nested_a = {"outer": items, "list": [items]}
    nested_b = {"list": [shuffled], "outer": shuffled}
    assert digest(nested_a) == digest(nested_b)


@pytest.mark.parametrize(
    "value",
    [
        {"a": float("nan")},
        {"a": 1, "b": [1, {"c": float("inf")}]},
        {"\ud800": 1},
        {"a": "x\udc00"},
        {1: "a"},
        {"a": 10**4300},
        {"a": (1, 2)},
        [{"a": {1, 2}}],
        -(10**4300),
    ],
    ids=lambda value: type(value).__name__,
)
def test_check_json_refuses_what_has_no_json_form(value: Any) -> None:
    with pytest.raises(NotJSONError):
        check_json(value)


@pytest.mark.parametrize(
    "value",
    [
        {"a": 1, "b": "zoë", "c": 1.5, "d": None, "e": True},
        {"a": [1, [2, [3]]], "b": {"c": {"d": "🦀"}}},
        10**4300 - 1,
        [],
        "text",
    ],
    ids=lambda value: type(value).__name__,
)
def test_check_json_accepts_json_values(value: Any) -> None:
    check_json(value)


def test_nesting_is_bounded() -> None:
    def nested(depth: int) -> Any:
        value: Any = 0
        for _ in range(depth):
            value = {"a": value}
        return value

    check_json(nested(MAX_DEPTH))
    with pytest.raises(NotJSONError, match="deeper"):
        check_json(nested(MAX_DEPTH + 1))
