"""Flow versions and flow references: the two small grammars the registry relies on.

A flow version is a PEP 440 version (``packaging.version.Version``), so ``"1.10"``
sorts after ``"1.9"``, ``"2.0rc1"`` before ``"2.0"``, and ``"1"`` equals ``"1.0"``.
A flow reference names a flow as ``"name"`` (the registry picks the version) or
``"name@version"`` (that version): steps, the executor and flow files all use it.
Standard library and ``packaging`` only, so that ``flows.py`` can use it too.
"""

from __future__ import annotations

import functools

from packaging.version import InvalidVersion, Version

SEPARATOR = "@"
"""Between a flow's name and a pinned version in a reference: ``"enrich@2"``."""

REFERENCE_HINT = (
    'name a flow as "name" (its latest active version) or "name@version", such as "enrich@2"'
)


def parse_version(text: object) -> Version | None:
    """``text`` as a PEP 440 version, or ``None`` when it is not one (or not a string)."""
    return _parse(text) if isinstance(text, str) else None


@functools.lru_cache(maxsize=1024)
def _parse(text: str) -> Version | None:
    # Cached: the executor looks up a flow object's version at every run it starts.
    try:
        return Version(text)
    except InvalidVersion:
        return None


def version_problem(version: object) -> str | None:
    """Why ``version`` cannot be a flow version, or ``None`` when it can."""
    if parse_version(version) is not None:
        return None
    return f"{version!r} is not a PEP 440 version"


VERSION_HINT = (
    'use a PEP 440 version such as "1", "1.2", "2.0rc1" or "1.0.post1" '
    "(versions are ordered as PEP 440 orders them)"
)


def reference_problem(reference: str) -> str | None:
    """Why ``reference`` is not ``"name"`` or ``"name@version"``, or ``None`` when it is."""
    name, sep, version = reference.partition(SEPARATOR)
    if not name:
        return f"flow reference {reference!r} has no flow name"
    if not sep:
        return None
    if SEPARATOR in version:
        return f"flow reference {reference!r} has more than one {SEPARATOR!r}"
    if not version:
        return f"flow reference {reference!r} has nothing after {SEPARATOR!r}"
    if version != version.strip():
        return f"flow reference {reference!r} has spaces around its version"
    problem = version_problem(version)
    if problem is not None:
        return f"flow reference {reference!r} pins a version that is invalid: {problem}"
    return None


def split_reference(reference: str) -> tuple[str, str | None]:
    """``("enrich", "2")`` for ``"enrich@2"``, ``("enrich", None)`` for ``"enrich"``.

    Splits at the first ``@`` without judging the parts: check ``reference_problem``
    first where a malformed reference must be refused.
    """
    name, sep, version = reference.partition(SEPARATOR)
    return name, (version if sep else None)


def reference_name(reference: str) -> str:
    """The flow name of a reference (``"enrich"`` for ``"enrich@2"``)."""
    return reference.partition(SEPARATOR)[0]


def _anycase(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" for c in word)


def _options(*words: str) -> str:
    return "(?:" + "|".join(_anycase(w) for w in words) + ")"


_SEP = "[._-]?"
VERSION_PATTERN = (
    # PEP 440 as packaging parses it, without flags (JSON Schema patterns take none):
    # letters in either case, no surrounding spaces (a reference allows none).
    f"{_anycase('v')}?(?:[0-9]+!)?[0-9]+(?:\\.[0-9]+)*"
    f"(?:{_SEP}{_options('alpha', 'a', 'beta', 'b', 'preview', 'pre', 'c', 'rc')}{_SEP}[0-9]*)?"
    f"(?:-[0-9]+|{_SEP}{_options('post', 'rev', 'r')}{_SEP}[0-9]*)?"
    f"(?:{_SEP}{_anycase('dev')}{_SEP}[0-9]*)?"
    "(?:\\+[a-zA-Z0-9]+(?:[._-][a-zA-Z0-9]+)*)?"
)
"""A regular expression (ECMA-262 and Python alike) matching exactly the versions a
flow reference may pin: the flow-file schema's pattern for ``flow``."""
