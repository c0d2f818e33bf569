"""The ``when`` predicate language: a small, safe subset of Python expressions.

A predicate is one Python expression (parsed with ``ast.parse(mode="eval")``) built from

* names, which read context keys (a key that is absent reads as ``None``);
* literals: strings, ints, floats, ``True``, ``False``, ``None``;
* list, tuple and set displays of allowed expressions (``["a", "b"]``);
* comparisons ``==  !=  <  <=  >  >=  in  not in  is  is not``, chained like ``0 < x <= 1``;
* ``and``, ``or``, ``not`` (with Python's short-circuit semantics);
* a sign directly on a number literal (``x > -1``).

Nothing else is accepted: calls, attributes, subscripts, arithmetic, lambdas,
comprehensions, f-strings and the rest raise :class:`PredicateSyntaxError` naming the
construct and its offset in the text. The checked tree is compiled once into nested
closures, so evaluation walks no tree and calls no ``eval``; values that cannot be
compared (``'a' > 1``, ``None < 3``) raise :class:`PredicateEvaluationError`.

A predicate that reads no names is constant: its value is computed at compile time and
kept on :attr:`Predicate.constant`. A constant predicate that can never be evaluated
(``1 < 'a'``) is refused at compile time with :class:`PredicateSyntaxError`.

This module is part of the pure core: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Predicate",
    "PredicateEvaluationError",
    "PredicateSyntaxError",
    "compile_predicate",
]

MAX_LENGTH: Final = 2000
"""The longest predicate text accepted, in characters."""

MAX_DEPTH: Final = 50
"""The deepest nesting of expressions accepted."""

ALLOWED_HINT: Final = (
    "a `when` predicate may use context names, literals (strings, numbers, True, False, "
    "None), list/tuple/set displays, comparisons (==, !=, <, <=, >, >=, in, not in, is, "
    "is not; chained like `0 < x <= 1`), `and`, `or`, `not`, and a sign on a number "
    "literal (`x > -1`)"
)

Evaluator = Callable[[Mapping[str, Any]], Any]
"""A compiled (sub-)expression: context values in, a Python value out."""


class PredicateSyntaxError(Exception):
    """A ``when`` predicate is not in the predicate language, or is not valid Python.

    ``offset`` is the 0-based character offset in the expression text where the problem
    is (0 when unknown); ``hint`` says what is allowed or how to fix it.
    """

    def __init__(self, message: str, offset: int = 0, hint: str | None = None) -> None:
        super().__init__(message, offset, hint)
        self.message = message
        self.offset = offset
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.message} (at offset {self.offset})"
        if self.hint:
            text += f"; hint: {self.hint}"
        return text


class PredicateEvaluationError(Exception):
    """A ``when`` predicate met values it cannot compare, e.g. ``'a' > 1`` or ``None < 3``.

    ``expression`` is the source text of the comparison (or display) that failed and
    ``offset`` its 0-based character offset in the predicate text.
    """

    def __init__(self, message: str, expression: str = "", offset: int = 0) -> None:
        super().__init__(message, expression, offset)
        self.message = message
        self.expression = expression
        self.offset = offset

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class Predicate:
    """A compiled ``when`` predicate; build one with :func:`compile_predicate`.

    ``names`` are the context keys it reads (unique, in order of first appearance);
    ``constant`` is its value when it reads no names, else ``None``.
    """

    source: str
    names: tuple[str, ...]
    constant: bool | None
    _fn: Evaluator = field(repr=False, compare=False)

    def evaluate(self, values: Mapping[str, Any]) -> bool:
        """Evaluate against ``values``; an absent name reads as ``None``.

        Raises :class:`PredicateEvaluationError` when values cannot be compared.
        """
        return bool(self._fn(values))

    def __reduce__(self) -> tuple[Callable[[str], Predicate], tuple[str]]:
        # Closures do not pickle; the source text is enough to rebuild the predicate.
        return (compile_predicate, (self.source,))


# ---------------------------------------------------------------------------------------
# Operators


def _in(a: Any, b: Any) -> Any:
    return a in b


def _not_in(a: Any, b: Any) -> Any:
    return a not in b


_COMPARE_OPS: Final[dict[type[ast.cmpop], tuple[Callable[[Any, Any], Any], str]]] = {
    ast.Eq: (operator.eq, "=="),
    ast.NotEq: (operator.ne, "!="),
    ast.Lt: (operator.lt, "<"),
    ast.LtE: (operator.le, "<="),
    ast.Gt: (operator.gt, ">"),
    ast.GtE: (operator.ge, ">="),
    ast.In: (_in, "in"),
    ast.NotIn: (_not_in, "not in"),
    ast.Is: (operator.is_, "is"),
    ast.IsNot: (operator.is_not, "is not"),
}

_ARITHMETIC_SYMBOLS: Final[dict[type[ast.operator], str]] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.MatMult: "@",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}

_BITWISE_SYMBOLS: Final[dict[type[ast.operator], str]] = {
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
}

# What each refused construct is called in error messages.
_REFUSED: Final[dict[type[ast.AST], str]] = {
    ast.Call: "function calls are",
    ast.Attribute: "attribute access (`a.b`) is",
    ast.Subscript: "subscripts and slices (`a[...]`) are",
    ast.Slice: "slices are",
    ast.Lambda: "lambda expressions are",
    ast.ListComp: "list comprehensions are",
    ast.SetComp: "set comprehensions are",
    ast.DictComp: "dict comprehensions are",
    ast.GeneratorExp: "generator expressions are",
    ast.JoinedStr: "f-strings are",
    ast.FormattedValue: "f-strings are",
    ast.NamedExpr: "assignment expressions (`:=`) are",
    ast.Starred: "starred expressions (`*a`) are",
    ast.Dict: "dict displays (`{key: value}`) are",
    ast.IfExp: "conditional expressions (`a if c else b`) are",
    ast.Await: "`await` is",
    ast.Yield: "`yield` is",
    ast.YieldFrom: "`yield from` is",
}

_LITERAL_TYPES: Final = (str, int, float, bool, type(None))


def _type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _comparison_error(
    expression: str, offset: int, symbol: str, left: Any, right: Any, *, exc: Exception
) -> PredicateEvaluationError:
    return PredicateEvaluationError(
        f"cannot evaluate `{expression}`: `{symbol}` between {_type_name(left)} and "
        f"{_type_name(right)} failed ({type(exc).__name__}: {exc})",
        expression,
        offset,
    )


# ---------------------------------------------------------------------------------------
# Compilation


@dataclass(frozen=True, slots=True)
class _Const:
    """A sub-expression whose value is known at compile time."""

    value: Any


@dataclass(frozen=True, slots=True)
class _Name:
    """A sub-expression that reads one context key."""

    key: str


_Compiled = _Const | _Name | Evaluator


def _as_evaluator(node: _Compiled) -> Evaluator:
    if isinstance(node, _Const):
        value = node.value

        def constant(values: Mapping[str, Any]) -> Any:
            return value

        return constant
    if isinstance(node, _Name):
        key = node.key

        def lookup(values: Mapping[str, Any]) -> Any:
            return values.get(key)

        return lookup
    return node


def _identity_operand(node: ast.expr) -> bool:
    """Whether ``is`` may meet ``node``: a name or a singleton (None, True, False).

    Identity against a string, number or display literal depends on interpreter details
    (interning, caching), so ``x is 'a'`` is refused rather than silently false.
    """
    if isinstance(node, ast.Constant):
        return node.value is None or isinstance(node.value, bool)
    return not isinstance(node, ast.List | ast.Tuple | ast.Set | ast.UnaryOp)


class _Compiler:
    """Checks the tree against the language and builds its closures, in one walk."""

    def __init__(self, text: str, base: int) -> None:
        self.text = text  # the parsed text: the source without leading white space
        self.base = base  # how many characters were stripped in front of it
        self.names: dict[str, None] = {}
        self.lines = text.split("\n")

    # -- positions ------------------------------------------------------------------

    def offset_of(self, lineno: int, char_col: int) -> int:
        """Character offset in the original source of (1-based line, 0-based char col)."""
        lineno = max(1, min(lineno, len(self.lines)))
        before = sum(len(line) + 1 for line in self.lines[: lineno - 1])
        return self.base + before + max(0, char_col)

    def byte_position(self, lineno: int, byte_col: int) -> int:
        """Character offset in the source of an AST position (its columns are UTF-8 bytes)."""
        line = self.lines[lineno - 1] if 0 < lineno <= len(self.lines) else ""
        char_col = len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))
        return self.offset_of(lineno, char_col)

    def node_offset(self, node: ast.AST) -> int:
        return self.byte_position(getattr(node, "lineno", 1), getattr(node, "col_offset", 0))

    def node_end_offset(self, node: ast.AST) -> int:
        lineno = getattr(node, "end_lineno", None) or 1
        return self.byte_position(lineno, getattr(node, "end_col_offset", None) or 0)

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.text, node) or ast.unparse(node)

    def refuse(self, node: ast.AST, message: str, hint: str = ALLOWED_HINT) -> NoReturn:
        raise PredicateSyntaxError(message, self.node_offset(node), hint)

    # -- the walk -------------------------------------------------------------------

    def compile(self, node: ast.expr, depth: int) -> _Compiled:
        if depth > MAX_DEPTH:
            self.refuse(
                node,
                f"the `when` predicate is nested too deeply (more than {MAX_DEPTH} levels)",
                "split the condition into simpler parts",
            )
        if isinstance(node, ast.Name):
            self.names.setdefault(node.id, None)
            return _Name(node.id)
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Compare):
            return self.compare(node, depth)
        if isinstance(node, ast.BoolOp):
            return self.boolop(node, depth)
        if isinstance(node, ast.UnaryOp):
            return self.unaryop(node, depth)
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            return self.display(node, depth)
        if isinstance(node, ast.BinOp):
            op = type(node.op)
            if op in _BITWISE_SYMBOLS:
                symbol = _BITWISE_SYMBOLS[op]
                what = f"bitwise operators (`{symbol}`) are"
                hint = ALLOWED_HINT
                if symbol in ("|", "&"):
                    word = "or" if symbol == "|" else "and"
                    hint = f"use `{word}` instead of `{symbol}`; {ALLOWED_HINT}"
                self.refuse(node, f"{what} not allowed in `when` predicates", hint)
            symbol = _ARITHMETIC_SYMBOLS.get(op, "?")
            self.refuse(node, f"arithmetic (`{symbol}`) is not allowed in `when` predicates")
        what = _REFUSED.get(type(node), f"`{type(node).__name__}` expressions are")
        return self.refuse(node, f"{what} not allowed in `when` predicates")

    def constant(self, node: ast.Constant) -> _Const:
        value = node.value
        if isinstance(value, _LITERAL_TYPES):
            return _Const(value)
        if isinstance(value, bytes):
            what = "bytes literals are"
        elif isinstance(value, complex):
            what = "complex number literals are"
        elif value is Ellipsis:
            what = "`...` (Ellipsis) is"
        else:  # pragma: no cover - no other constant kinds in Python 3.11
            what = f"{type(value).__name__} literals are"
        return self.refuse(node, f"{what} not allowed in `when` predicates")

    def unaryop(self, node: ast.UnaryOp, depth: int) -> _Compiled:
        if isinstance(node.op, ast.Not):
            inner = self.compile(node.operand, depth + 1)
            if isinstance(inner, _Const):
                return _Const(not inner.value)
            fn = _as_evaluator(inner)

            def negate(values: Mapping[str, Any]) -> Any:
                return not fn(values)

            return negate
        if isinstance(node.op, ast.USub | ast.UAdd):
            operand = node.operand
            if (
                isinstance(operand, ast.Constant)
                and isinstance(operand.value, int | float)
                and not isinstance(operand.value, bool)
            ):
                number = operand.value
                return _Const(-number if isinstance(node.op, ast.USub) else +number)
            sign = "-" if isinstance(node.op, ast.USub) else "+"
            self.refuse(
                node,
                f"a sign (`{sign}`) is allowed only directly on a number literal, like "
                f"`{sign}1`; arithmetic is not allowed in `when` predicates",
            )
        return self.refuse(node, "bitwise inversion (`~`) is not allowed in `when` predicates")

    def boolop(self, node: ast.BoolOp, depth: int) -> _Compiled:
        parts = [self.compile(value, depth + 1) for value in node.values]
        is_and = isinstance(node.op, ast.And)
        if all(isinstance(part, _Const) for part in parts):
            result: Any = None
            for part in parts:
                assert isinstance(part, _Const)
                result = part.value
                if bool(result) != is_and:  # falsy under `and`, truthy under `or`
                    break
            return _Const(result)
        fns = tuple(_as_evaluator(part) for part in parts)
        if len(fns) == 2:
            first, second = fns
            if is_and:

                def and2(values: Mapping[str, Any]) -> Any:
                    result = first(values)
                    return second(values) if result else result

                return and2

            def or2(values: Mapping[str, Any]) -> Any:
                result = first(values)
                return result if result else second(values)

            return or2
        if is_and:

            def and_n(values: Mapping[str, Any]) -> Any:
                result: Any = None
                for fn in fns:
                    result = fn(values)
                    if not result:
                        return result
                return result

            return and_n

        def or_n(values: Mapping[str, Any]) -> Any:
            result: Any = None
            for fn in fns:
                result = fn(values)
                if result:
                    return result
            return result

        return or_n

    def compare(self, node: ast.Compare, depth: int) -> _Compiled:
        left = self.compile(node.left, depth + 1)
        rights = [self.compile(comparator, depth + 1) for comparator in node.comparators]
        ops = [_COMPARE_OPS[type(op)] for op in node.ops]
        operands = [node.left, *node.comparators]
        for position, cmpop in enumerate(node.ops):
            if isinstance(cmpop, ast.Is | ast.IsNot):
                for operand in operands[position : position + 2]:
                    if not _identity_operand(operand):
                        word = "is not" if isinstance(cmpop, ast.IsNot) else "is"
                        self.refuse(
                            operand,
                            f"`{word}` with `{self.segment(operand)}` compares identity, not "
                            f"value, and is not allowed in `when` predicates",
                            f"use `{'!=' if word == 'is not' else '=='}` to compare values; "
                            f"`{word}` is for names, None, True and False",
                        )
        expression = self.segment(node)
        offset = self.node_offset(node)

        if len(ops) == 1:
            op, symbol = ops[0]
            right = rights[0]
            if isinstance(left, _Name) and isinstance(right, _Const):
                key, const = left.key, right.value

                def compare_name_const(values: Mapping[str, Any]) -> Any:
                    a = values.get(key)
                    try:
                        return op(a, const)
                    except Exception as exc:
                        raise _comparison_error(
                            expression, offset, symbol, a, const, exc=exc
                        ) from exc

                return compare_name_const
            left_fn, right_fn = _as_evaluator(left), _as_evaluator(right)

            def compare2(values: Mapping[str, Any]) -> Any:
                a = left_fn(values)
                b = right_fn(values)
                try:
                    return op(a, b)
                except Exception as exc:
                    raise _comparison_error(expression, offset, symbol, a, b, exc=exc) from exc

            return compare2

        first_fn = _as_evaluator(left)
        links = tuple(
            (op, symbol, _as_evaluator(right))
            for (op, symbol), right in zip(ops, rights, strict=True)
        )

        def chain(values: Mapping[str, Any]) -> Any:
            a = first_fn(values)
            result: Any = True
            for op, symbol, right_fn in links:
                b = right_fn(values)
                try:
                    result = op(a, b)
                except Exception as exc:
                    raise _comparison_error(expression, offset, symbol, a, b, exc=exc) from exc
                if not result:
                    return result
                a = b
            return result

        return chain

    def display(self, node: ast.List | ast.Tuple | ast.Set, depth: int) -> _Compiled:
        items = [self.compile(element, depth + 1) for element in node.elts]
        expression = self.segment(node)
        offset = self.node_offset(node)
        if all(isinstance(item, _Const) for item in items):
            consts = [item.value for item in items if isinstance(item, _Const)]
            if isinstance(node, ast.List):
                return _Const(consts)
            if isinstance(node, ast.Tuple):
                return _Const(tuple(consts))
            try:
                # A set, not a frozenset: like Python, a set display is unhashable, so
                # `{{1}}` fails the same way in both.
                return _Const(set(consts))
            except TypeError:
                pass  # unhashable members: fail when (and if) it is evaluated
        fns = tuple(_as_evaluator(item) for item in items)
        if isinstance(node, ast.List):

            def build_list(values: Mapping[str, Any]) -> Any:
                return [fn(values) for fn in fns]

            return build_list
        if isinstance(node, ast.Tuple):

            def build_tuple(values: Mapping[str, Any]) -> Any:
                return tuple([fn(values) for fn in fns])

            return build_tuple

        def build_set(values: Mapping[str, Any]) -> Any:
            members = [fn(values) for fn in fns]
            try:
                return set(members)
            except TypeError as exc:
                kinds = ", ".join(sorted({_type_name(member) for member in members}))
                raise PredicateEvaluationError(
                    f"cannot evaluate `{expression}`: a set cannot hold these values "
                    f"({kinds}; {exc})",
                    expression,
                    offset,
                ) from exc

        return build_set


def _syntax_error_offset(exc: SyntaxError, compiler: _Compiler, text: str) -> tuple[int, str]:
    """Map a parser error to (offset in the source, message)."""
    message = exc.msg or "invalid syntax"
    if exc.lineno is None:
        return 0, message
    if not exc.offset:
        # CPython reports errors at the end of the input with offset 0.
        return compiler.base + len(text.rstrip()), f"{message}: the expression is incomplete"
    return compiler.offset_of(exc.lineno, exc.offset - 1), message


def compile_predicate(text: str) -> Predicate:
    """Check ``text`` against the predicate language and compile it.

    Raises :class:`PredicateSyntaxError` (with the offset of the problem and a hint) when
    the text is empty, too long, too deeply nested, not a Python expression, or uses a
    construct outside the language.
    """
    if not isinstance(text, str):
        raise TypeError(f"a `when` predicate must be a string, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise PredicateSyntaxError(
            f"the `when` predicate is {len(text)} characters long; the limit is {MAX_LENGTH}",
            MAX_LENGTH,
            "split the condition into simpler parts",
        )
    stripped = text.lstrip()
    if not stripped.strip():
        raise PredicateSyntaxError("the `when` predicate is empty", 0, ALLOWED_HINT)
    compiler = _Compiler(stripped, len(text) - len(stripped))
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        offset, message = _syntax_error_offset(exc, compiler, stripped)
        raise PredicateSyntaxError(
            f"invalid `when` predicate: {message}", offset, ALLOWED_HINT
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise PredicateSyntaxError(
            f"invalid `when` predicate: {exc or type(exc).__name__}", 0, ALLOWED_HINT
        ) from None

    body = tree.body
    if isinstance(body, ast.Tuple) and body.elts:
        first = body.elts[0]
        if (first.lineno, first.col_offset) == (body.lineno, body.col_offset):
            # `x > 1,` parses as a one-element tuple, which is always true.
            raise PredicateSyntaxError(
                "a comma at the top level makes the `when` predicate a tuple, which is always true",
                compiler.node_end_offset(first),
                "remove the trailing comma, or join conditions with `and` / `or`",
            )
    compiled = compiler.compile(body, 1)
    names = tuple(compiler.names)
    fn = _as_evaluator(compiled)
    if names:
        return Predicate(text, names, None, fn)

    try:
        constant = bool(fn({}))
    except PredicateEvaluationError as exc:
        raise PredicateSyntaxError(
            f"this `when` predicate reads no context names and can never be evaluated: "
            f"{exc.message}",
            exc.offset,
            ALLOWED_HINT,
        ) from None

    def always(values: Mapping[str, Any]) -> bool:
        return constant

    return Predicate(text, names, constant, always)
