"""The `when` predicate language: what it accepts, what it refuses, how it evaluates."""

from __future__ import annotations

import ast
import pickle
import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagwright._execution.predicates import (
    MAX_DEPTH,
    MAX_LENGTH,
    Predicate,
    PredicateEvaluationError,
    PredicateSyntaxError,
    compile_predicate,
)

# ---------------------------------------------------------------------------------------
# Allowed constructs


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        # names, including missing ones (read as None)
        ("x", {"x": 1}, True),
        ("x", {"x": 0}, False),
        ("x", {"x": "a"}, True),
        ("x", {}, False),
        ("x == None", {}, True),
        ("x in [None, 1]", {}, True),
        ("x is None", {}, True),
        ("x is None", {"x": 0}, False),
        ("x is not None", {"x": 0}, True),
        ("x is y", {}, True),
        ("x is True", {"x": True}, True),
        ("x is False", {"x": 0}, False),
        ("(x or y) is None", {}, True),
        ("x is not (y is None)", {"x": True}, False),
        # literals
        ("x == 'a'", {"x": "a"}, True),
        ('x == "a"', {"x": "b"}, False),
        ("x == 3", {"x": 3}, True),
        ("x == 2.5", {"x": 2.5}, True),
        ("x == True", {"x": True}, True),
        ("x == False", {"x": True}, False),
        # each comparison operator
        ("x != 'a'", {"x": "b"}, True),
        ("x != 'a'", {"x": "a"}, False),
        ("x < 3", {"x": 2}, True),
        ("x < 3", {"x": 3}, False),
        ("x <= 3", {"x": 3}, True),
        ("x <= 3", {"x": 4}, False),
        ("x > 3", {"x": 4}, True),
        ("x > 3", {"x": 3}, False),
        ("x >= 3", {"x": 3}, True),
        ("x >= 3", {"x": 2}, False),
        ("x in ['a', 'b']", {"x": "b"}, True),
        ("x in ['a', 'b']", {"x": "c"}, False),
        ("x not in ('a', 'b')", {"x": "c"}, True),
        ("x not in ('a', 'b')", {"x": "a"}, False),
        ("'b' in x", {"x": ["a", "b"]}, True),
        ("'ell' in x", {"x": "hello"}, True),
        ("x in {1, 2}", {"x": 2}, True),
        ("x in {1, 2}", {"x": 3}, False),
        # name on the right, name against name
        ("3 < x", {"x": 4}, True),
        ("x < y", {"x": 1, "y": 2}, True),
        ("x == y", {"x": "a", "y": "b"}, False),
        # chained comparisons
        ("0 < x <= 1", {"x": 0.5}, True),
        ("0 < x <= 1", {"x": 1}, True),
        ("0 < x <= 1", {"x": 0}, False),
        ("0 < x <= 1", {"x": 2}, False),
        ("a < b < c < d", {"a": 1, "b": 2, "c": 3, "d": 4}, True),
        ("a < b < c < d", {"a": 1, "b": 2, "c": 5, "d": 4}, False),
        ("x == y != z", {"x": 1, "y": 1, "z": 2}, True),
        # and / or / not
        ("x and y", {"x": 1, "y": 1}, True),
        ("x and y", {"x": 1, "y": 0}, False),
        ("x and y and z", {"x": 1, "y": 1, "z": 1}, True),
        ("x and y and z", {"x": 1, "y": 0, "z": 1}, False),
        ("x or y", {"x": 0, "y": 1}, True),
        ("x or y", {"x": 0, "y": 0}, False),
        ("x or y or z", {"z": "yes"}, True),
        ("x or y or z", {}, False),
        ("not x", {"x": 0}, True),
        ("not x", {"x": "a"}, False),
        ("not x", {}, True),
        ("not (x > 1 and y)", {"x": 2, "y": True}, False),
        # and/or yield operand values, as in Python
        ("(x or 'dflt') == 'dflt'", {}, True),
        ("(x and y) == 0", {"x": 1, "y": 0}, True),
        # short-circuit: the right side would fail if it were evaluated
        ("x is not None and x > 1", {}, False),
        ("x is None or x > 1", {}, True),
        ("x == 1 and y > 2", {"x": 2, "y": "not a number"}, False),
        # signs directly on number literals
        ("x > -1", {"x": 0}, True),
        ("x > -1", {"x": -2}, False),
        ("x == -2.5", {"x": -2.5}, True),
        ("x == +2", {"x": 2}, True),
        ("x in [-1, -2]", {"x": -2}, True),
        # displays
        ("x == [1, 2]", {"x": [1, 2]}, True),
        ("x == [1, 2]", {"x": (1, 2)}, False),
        ("x == (1, 2)", {"x": (1, 2)}, True),
        ("x == ()", {"x": ()}, True),
        ("x == []", {"x": []}, True),
        ("x in [y, z]", {"x": 3, "z": 3}, True),
        ("x in [y, z]", {"x": 3}, False),
        ("x in {y, 'k'}", {"x": "k"}, True),
        ("(x, y) == (1, 2)", {"x": 1, "y": 2}, True),
        ("[x, [y]] == [1, [2]]", {"x": 1, "y": 2}, True),
        ("x == {1, 2}", {"x": {2, 1}}, True),
        # non-ASCII text and surrounding white space
        ("x == 'héllo ✓'", {"x": "héllo ✓"}, True),
        ("  x == 1  ", {"x": 1}, True),
        ("\n x == 1\n", {"x": 1}, True),
        ("(x ==\n 1)", {"x": 1}, True),
    ],
)
def test_allowed_constructs_evaluate(text: str, values: dict[str, Any], expected: bool) -> None:
    predicate = compile_predicate(text)
    result = predicate.evaluate(values)
    assert type(result) is bool
    assert result is expected


def test_the_design_example() -> None:
    predicate = compile_predicate("score > 0.5 and label in ['a', 'b']")
    assert predicate.names == ("score", "label")
    assert predicate.constant is None
    assert predicate.evaluate({"score": 0.9, "label": "a"}) is True
    assert predicate.evaluate({"score": 0.9, "label": "c"}) is False
    assert predicate.evaluate({"score": 0.1, "label": "a"}) is False


def test_evaluate_accepts_any_mapping() -> None:
    from types import MappingProxyType

    predicate = compile_predicate("x == 1")
    assert predicate.evaluate(MappingProxyType({"x": 1})) is True


def test_evaluation_is_repeatable_and_does_not_mutate_values() -> None:
    predicate = compile_predicate("x in [1, 2] and y == [3]")
    values = {"x": 1, "y": [3]}
    for _ in range(3):
        assert predicate.evaluate(values) is True
    assert values == {"x": 1, "y": [3]}


# ---------------------------------------------------------------------------------------
# names and constants


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("x", ("x",)),
        ("b > 1 and a < 2 or b == a", ("b", "a")),
        ("z in [y, x, y] or not w", ("z", "y", "x", "w")),
        ("True and x is None and False", ("x",)),
        ("None == x", ("x",)),
        ("0 < x <= y", ("x", "y")),
        ("'x' == 'y'", ()),
        ("1 > 2", ()),
    ],
)
def test_names_unique_in_first_appearance_order(text: str, names: tuple[str, ...]) -> None:
    predicate = compile_predicate(text)
    assert predicate.names == names
    assert not {"True", "False", "None"} & set(predicate.names)


@pytest.mark.parametrize(
    ("text", "constant"),
    [
        ("1 > 2", False),
        ("1 < 2", True),
        ("True", True),
        ("False", False),
        ("None", False),
        ("not None", True),
        ("0", False),
        ("''", False),
        ("'a'", True),
        ("[]", False),
        ("[0]", True),
        ("'a' in ['a', 'b']", True),
        ("1 < 2 < 3 and 'b' not in 'abc'", False),
        ("-1 < 0", True),
        ("None is None", True),
        ("True or 1 < 'a'", True),
        ("False and 1 < 'a'", False),
    ],
)
def test_constant_predicates(text: str, constant: bool) -> None:
    predicate = compile_predicate(text)
    assert predicate.names == ()
    assert predicate.constant is constant
    # A constant ignores the values it is given.
    assert predicate.evaluate({}) is constant
    assert predicate.evaluate({"x": 1, "anything": "else"}) is constant


@pytest.mark.parametrize("text", ["x", "x > 1", "not x", "True and x", "x or True", "[x]"])
def test_predicates_with_names_are_not_constant(text: str) -> None:
    assert compile_predicate(text).constant is None


def test_a_constant_that_can_never_be_evaluated_is_refused_at_compile_time() -> None:
    with pytest.raises(PredicateSyntaxError) as info:
        compile_predicate("1 < 'a'")
    assert "never be evaluated" in info.value.message
    assert "int" in info.value.message
    assert "str" in info.value.message


def test_predicate_is_a_frozen_value() -> None:
    first = compile_predicate("x > 1")
    second = compile_predicate("x > 1")
    assert first == second
    assert hash(first) == hash(second)
    assert first != compile_predicate("x > 2")
    assert "x > 1" in repr(first)
    with pytest.raises(AttributeError):
        first.source = "y"  # type: ignore[misc]


def test_predicate_pickles_by_source() -> None:
    predicate = compile_predicate("0 < x <= 1 and y in ['a']")
    clone = pickle.loads(pickle.dumps(predicate))
    assert isinstance(clone, Predicate)
    assert clone == predicate
    assert clone.evaluate({"x": 1, "y": "a"}) is True
    assert clone.evaluate({"x": 1, "y": "b"}) is False


def test_errors_pickle() -> None:
    syntax = PredicateSyntaxError("bad", 3, "hint")
    clone = pickle.loads(pickle.dumps(syntax))
    assert (clone.message, clone.offset, clone.hint) == ("bad", 3, "hint")
    evaluation = PredicateEvaluationError("cannot", "x > 1", 0)
    clone_eval = pickle.loads(pickle.dumps(evaluation))
    assert (clone_eval.message, clone_eval.expression) == ("cannot", "x > 1")


# ---------------------------------------------------------------------------------------
# Refused constructs


@pytest.mark.parametrize(
    ("text", "offset", "fragment"),
    [
        ("x > len(y)", 4, "function calls are not allowed in `when` predicates"),
        ("f(x)", 0, "function calls"),
        ("x.y == 1", 0, "attribute access"),
        ("x == y.z", 5, "attribute access"),
        ("x == y[0]", 5, "subscripts"),
        ("x == y[1:2]", 5, "subscripts"),
        ("x + 1 > 2", 0, "arithmetic (`+`)"),
        ("a and x * 2", 6, "arithmetic (`*`)"),
        ("x > 2 ** 3", 4, "arithmetic (`**`)"),
        ("x == 1 - 1", 5, "arithmetic (`-`)"),
        ("x == 1 | y == 2", 5, "bitwise operators (`|`)"),
        ("x & y", 0, "bitwise operators (`&`)"),
        ("x > -y", 4, "sign (`-`)"),
        ("x > +y", 4, "sign (`+`)"),
        ("x > - -1", 4, "sign (`-`)"),
        ("x > -True", 4, "sign (`-`)"),
        ("~x", 0, "bitwise inversion"),
        ("(lambda: 1) == x", 1, "lambda expressions"),
        ("x in [i for i in y]", 5, "list comprehensions"),
        ("x in {i for i in y}", 5, "set comprehensions"),
        ("x in {i: i for i in y}", 5, "dict comprehensions"),
        ("x in (i for i in y)", 5, "generator expressions"),
        ("x == f'{y}'", 5, "f-strings"),
        ("(y := 1) > 0", 1, "assignment expressions"),
        ("x in [*y]", 6, "starred expressions"),
        ("x == {'a': 1}", 5, "dict displays"),
        ("(a if b else c) == 1", 1, "conditional expressions"),
        ("await x", 0, "`await`"),
        ("x and (yield)", 7, "`yield`"),
        ("x == b'a'", 5, "bytes literals"),
        ("x == 1j", 5, "complex number literals"),
        ("x == ...", 5, "Ellipsis"),
        ("1 < x < 2 < f(x)", 12, "function calls"),
        ("not not f()", 8, "function calls"),
        # offsets are characters, not UTF-8 bytes
        ("é == f(x)", 5, "function calls"),
        ("'✓✓' == x.y", 8, "attribute access"),
        # leading white space and several lines
        ("  f(x)", 2, "function calls"),
        ("(x ==\n f(1))", 7, "function calls"),
        # identity against a literal other than None/True/False depends on the interpreter
        ("x is 1", 5, "`is` with `1` compares identity"),
        ("x is not 'a'", 9, "`is not` with `'a'` compares identity"),
        ("x is -1", 5, "`is` with `-1`"),
        ("[1] is x", 0, "`is` with `[1]`"),
        ("0 < x is (1,)", 9, "`is` with `(1,)`"),
        # a bare top-level tuple (a stray comma) is always true
        ("x > 1,", 5, "tuple"),
        ("x, y", 1, "tuple"),
    ],
)
def test_refused_constructs(text: str, offset: int, fragment: str) -> None:
    with pytest.raises(PredicateSyntaxError) as info:
        compile_predicate(text)
    error = info.value
    assert fragment in error.message
    assert "not allowed" in error.message or "tuple" in error.message
    assert error.offset == offset
    assert error.hint
    assert fragment in str(error)
    assert f"offset {offset}" in str(error)


def test_refusal_hint_lists_what_is_allowed() -> None:
    with pytest.raises(PredicateSyntaxError) as info:
        compile_predicate("len(x) > 1")
    hint = info.value.hint or ""
    for word in ("names", "literals", "comparisons", "`and`", "`or`", "`not`", "in"):
        assert word in hint


def test_bitwise_or_hint_suggests_or() -> None:
    with pytest.raises(PredicateSyntaxError) as info:
        compile_predicate("(x == 1) | (y == 2)")
    assert "use `or`" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("text", "offset", "fragment"),
    [
        ("x >", 3, "incomplete"),
        ("x > (1", 4, "never closed"),
        ("x ==== 1", 4, "invalid syntax"),
        ("x = 1", 2, "invalid syntax"),
        ("x > 1 y", 6, "invalid syntax"),
        ("  x ==== 1", 6, "invalid syntax"),
        ("éé 1", 3, "invalid syntax"),
    ],
)
def test_python_syntax_errors(text: str, offset: int, fragment: str) -> None:
    with pytest.raises(PredicateSyntaxError) as info:
        compile_predicate(text)
    assert fragment in info.value.message
    assert info.value.offset == offset
    assert info.value.hint


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_predicate(text: str) -> None:
    with pytest.raises(PredicateSyntaxError) as info:
        compile_predicate(text)
    assert "empty" in info.value.message
    assert info.value.offset == 0


def test_null_byte_is_a_syntax_error() -> None:
    with pytest.raises(PredicateSyntaxError):
        compile_predicate("x == '\0'")


def test_length_cap() -> None:
    at_limit = "x" * MAX_LENGTH
    assert compile_predicate(at_limit).names == (at_limit,)
    with pytest.raises(PredicateSyntaxError) as info:
        compile_predicate("x" * (MAX_LENGTH + 1))
    assert str(MAX_LENGTH) in info.value.message
    assert info.value.offset == MAX_LENGTH
    assert MAX_LENGTH == 2000


def test_depth_cap() -> None:
    assert MAX_DEPTH == 50
    ok = "not " * (MAX_DEPTH - 1) + "x"
    assert compile_predicate(ok).evaluate({"x": 1}) is ((MAX_DEPTH - 1) % 2 == 0)
    with pytest.raises(PredicateSyntaxError) as info:
        compile_predicate("not " * MAX_DEPTH + "x")
    assert "nested too deeply" in info.value.message
    assert info.value.offset == 4 * MAX_DEPTH  # the node past the limit
    with pytest.raises(PredicateSyntaxError, match="nested too deeply"):
        compile_predicate("[" * 60 + "]" * 60)


def test_non_string_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        compile_predicate(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# Evaluation errors


@pytest.mark.parametrize(
    ("text", "values", "fragments"),
    [
        ("x > 1", {"x": "a"}, ("x > 1", "`>`", "str", "int")),
        ("x < 3", {}, ("x < 3", "`<`", "None", "int")),
        ("x <= y", {"x": 1, "y": "b"}, ("x <= y", "int", "str")),
        ("0 < x < y", {"x": 1, "y": "a"}, ("0 < x < y", "`<` between int and str")),
        ("x in 5", {"x": 1}, ("x in 5", "`in`", "int")),
        ("x in y", {"x": 1, "y": "abc"}, ("`in`", "int", "str")),
        ("x not in 5", {"x": 1}, ("`not in`",)),
        ("x in {1, 2}", {"x": [1]}, ("list",)),
        ("{x} == {1}", {"x": [1]}, ("{x}", "set", "list")),
        ("x in {{1}, 2}", {"x": 1}, ("{{1}, 2}", "set")),
        ("y or x >= 1", {"x": None}, ("x >= 1", "None")),
    ],
)
def test_evaluation_errors(text: str, values: dict[str, Any], fragments: tuple[str, ...]) -> None:
    predicate = compile_predicate(text)
    with pytest.raises(PredicateEvaluationError) as info:
        predicate.evaluate(values)
    for fragment in fragments:
        assert fragment in str(info.value)
    assert info.value.expression in text


def test_evaluation_error_keeps_the_cause() -> None:
    with pytest.raises(PredicateEvaluationError) as info:
        compile_predicate("x > 1").evaluate({"x": "a"})
    assert isinstance(info.value.__cause__, TypeError)
    assert info.value.offset == 0


def test_evaluation_error_offset_points_at_the_comparison() -> None:
    with pytest.raises(PredicateEvaluationError) as info:
        compile_predicate("x == 1 or y > 2").evaluate({"y": "s"})
    assert info.value.expression == "y > 2"
    assert info.value.offset == 10


# ---------------------------------------------------------------------------------------
# Agreement with Python on random expressions of the allowed grammar

NAMES = ("a", "b", "c")
ORDER_OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")

_literal = st.one_of(
    st.integers(-3, 3).map(repr),
    st.text(alphabet="ab", max_size=2).map(repr),
    st.sampled_from(["None", "True", "False", "2.5"]),
)
_atom = st.one_of(st.sampled_from(NAMES), _literal)
# `is` is only generated between names and None: identity of other literals is an
# interpreter detail, not part of the language.
_identity = st.tuples(
    st.sampled_from((*NAMES, "None")),
    st.sampled_from(("is", "is not")),
    st.sampled_from((*NAMES, "None")),
).map(" ".join)


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    paren = children.map(lambda text: f"({text})")
    items = st.lists(children, min_size=0, max_size=3).map(", ".join)
    nonempty = st.lists(children, min_size=1, max_size=3).map(", ".join)
    chain = st.tuples(
        paren, st.lists(st.tuples(st.sampled_from(ORDER_OPS), paren), min_size=1, max_size=3)
    ).map(lambda t: t[0] + "".join(f" {op} {right}" for op, right in t[1]))
    return st.one_of(
        chain,
        st.tuples(paren, st.sampled_from(("and", "or")), paren).map(" ".join),
        st.lists(paren, min_size=3, max_size=4).map(" and ".join),
        st.lists(paren, min_size=3, max_size=4).map(" or ".join),
        paren.map(lambda text: f"not {text}"),
        items.map(lambda text: f"[{text}]"),
        nonempty.map(lambda text: f"({text},)"),
        nonempty.map(lambda text: f"{{{text}}}"),
    )


_expressions = st.recursive(st.one_of(_atom, _identity), _extend, max_leaves=10)
_values = st.dictionaries(
    st.sampled_from(NAMES),
    st.one_of(st.none(), st.integers(-3, 3), st.text(alphabet="ab", max_size=2)),
)


def _python_names(text: str) -> tuple[str, ...]:
    tree = ast.parse(text, mode="eval")
    found = sorted(
        (node.lineno, node.col_offset, node.id)
        for node in ast.walk(tree)
        if isinstance(node, ast.Name)
    )
    return tuple(dict.fromkeys(name for _, _, name in found))


@settings(max_examples=200, deadline=None)
@given(text=_expressions, values=_values)
def test_agrees_with_python(text: str, values: dict[str, Any]) -> None:
    scope = {name: values.get(name) for name in NAMES}
    python_error = False
    expected = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = bool(eval(text, {"__builtins__": {}}, scope))
    except TypeError:
        python_error = True

    try:
        predicate = compile_predicate(text)
    except PredicateSyntaxError:
        # Only a constant expression that always fails may be refused at compile time.
        assert python_error, text
        assert _python_names(text) == (), text
        return

    assert predicate.names == _python_names(text)
    if python_error:
        with pytest.raises(PredicateEvaluationError):
            predicate.evaluate(values)
    else:
        assert predicate.evaluate(values) is expected, text
        if not predicate.names:
            assert predicate.constant is expected
