"""The pure core keeps its import contract; the checker finds what it must and no more."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.import_contract import Violation, check_modules

REPO = Path(__file__).resolve().parents[1]
PACKAGE_ROOT = REPO / "dagwright"
CORE = PACKAGE_ROOT / "_execution"


# ---------------------------------------------------------------------------------------
# The real core


def test_core_keeps_the_import_contract() -> None:
    files = sorted(CORE.rglob("*.py"))
    names = {path.name for path in files}
    assert {"__init__.py", "canonical.py", "plan.py"} <= names
    violations = check_modules(files, PACKAGE_ROOT)
    assert not violations, "the pure core breaks its import contract:\n" + "\n".join(
        f"  {violation}" for violation in violations
    )


# ---------------------------------------------------------------------------------------
# A fake package


def _write(root: Path, relative: str, source: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    """A tiny package ``fakepkg`` under tmp_path; returns its package root."""
    root = tmp_path / "fakepkg"
    _write(root, "__init__.py", "import socket  # the package init is never followed\n")
    _write(root, "core/__init__.py", "")
    _write(
        root,
        "helpers.py",
        """
        '''A sibling module outside core.'''

        import threading


        def spin() -> None:
            print("spinning")
        """,
    )
    _write(root, "hidden.py", "import socket\n")
    _write(root, "clean.py", "import json\n\nVALUE = json.dumps({})\n")
    return root


def _check(root: Path, *files: Path) -> list[Violation]:
    return check_modules(list(files), root, package="fakepkg")


def _found(violations: list[Violation]) -> set[tuple[str, int]]:
    return {(violation.file.name, violation.line) for violation in violations}


def test_import_time(fake: Path) -> None:
    path = _write(fake, "core/uses_time.py", '"""Doc."""\n\nimport time\n')
    violations = _check(fake, path)
    assert _found(violations) == {("uses_time.py", 3)}
    assert "time" in violations[0].what


def test_from_datetime_import_and_now(fake: Path) -> None:
    path = _write(
        fake,
        "core/uses_datetime.py",
        """
        from datetime import datetime


        def stamp() -> str:
            return datetime.now().isoformat()
        """,
    )
    violations = _check(fake, path)
    assert _found(violations) == {("uses_datetime.py", 1), ("uses_datetime.py", 5)}
    whats = {violation.line: violation.what for violation in violations}
    assert "datetime" in whats[1]
    assert "datetime.now" in whats[5]


def test_os_urandom_call(fake: Path) -> None:
    path = _write(
        fake,
        "core/uses_urandom.py",
        """
        import os


        def token() -> bytes:
            return os.urandom(4)
        """,
    )
    violations = _check(fake, path)
    assert _found(violations) == {("uses_urandom.py", 5)}
    assert "os.urandom" in violations[0].what


def test_builtin_open(fake: Path) -> None:
    path = _write(
        fake,
        "core/uses_open.py",
        """
        def read() -> str:
            with open("f") as handle:
                return handle.read()
        """,
    )
    violations = _check(fake, path)
    assert _found(violations) == {("uses_open.py", 2)}
    assert "open" in violations[0].what


def test_sibling_import_is_followed_transitively(fake: Path) -> None:
    path = _write(
        fake,
        "core/uses_sibling.py",
        """
        from fakepkg.helpers import spin

        VALUE = 1
        """,
    )
    violations = _check(fake, path)
    # helpers.py imports threading (line 3) and calls print (line 7).
    assert _found(violations) == {("helpers.py", 3), ("helpers.py", 7)}
    assert all(violation.via == (path,) for violation in violations)
    assert "uses_sibling.py" in str(violations[0])


@pytest.mark.parametrize(
    "statement",
    [
        "from ..helpers import spin",
        "from .. import helpers",
        "import fakepkg.helpers",
        "import fakepkg.helpers as h",
        "from fakepkg import helpers",
    ],
)
def test_every_import_form_is_followed(fake: Path, statement: str) -> None:
    path = _write(fake, "core/via.py", statement + "\n")
    assert _found(_check(fake, path)) == {("helpers.py", 3), ("helpers.py", 7)}


def test_following_is_transitive_over_several_hops(fake: Path) -> None:
    _write(fake, "core/b.py", "from . import c\n")
    _write(fake, "core/c.py", "x = 1\n\nimport subprocess\n")
    a = _write(fake, "core/a.py", "from fakepkg.core import b\n")
    violations = _check(fake, a)
    assert _found(violations) == {("c.py", 3)}
    assert [p.name for p in violations[0].via] == ["a.py", "b.py"]


def test_import_cycles_terminate(fake: Path) -> None:
    a = _write(fake, "core/a.py", "from . import b\n")
    _write(fake, "core/b.py", "from . import a\nimport random\n")
    assert _found(_check(fake, a)) == {("b.py", 2)}


def test_type_checking_imports_are_ignored(fake: Path) -> None:
    path = _write(
        fake,
        "core/type_only.py",
        """
        from __future__ import annotations

        import typing
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            import asyncio

            from fakepkg import hidden

        if typing.TYPE_CHECKING:
            from concurrent.futures import Future


        def f(loop: asyncio.AbstractEventLoop, fut: Future[int]) -> None:
            return None
        """,
    )
    assert _check(fake, path) == []


def test_type_checking_else_branch_is_checked(fake: Path) -> None:
    path = _write(
        fake,
        "core/else_branch.py",
        """
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            import asyncio
        else:
            import asyncio
        """,
    )
    assert _found(_check(fake, path)) == {("else_branch.py", 6)}


def test_clean_module_passes(fake: Path) -> None:
    path = _write(fake, "core/ok.py", "from fakepkg import clean\nimport os.path\n")
    assert _check(fake, path) == []


def test_package_init_of_an_import_is_not_followed(fake: Path) -> None:
    # `import fakepkg.clean` runs fakepkg/__init__.py, but the core does not use it.
    path = _write(fake, "core/ok.py", "import fakepkg.clean\n")
    assert _check(fake, path) == []


def test_importing_the_package_itself_follows_its_init(fake: Path) -> None:
    path = _write(fake, "core/top.py", "from fakepkg import not_a_module\n")
    assert _found(_check(fake, path)) == {("__init__.py", 1)}


def test_unresolvable_in_package_import_is_reported(fake: Path) -> None:
    path = _write(fake, "core/missing.py", "import json\nimport fakepkg.nowhere.at_all\n")
    violations = _check(fake, path)
    assert _found(violations) == {("missing.py", 2)}
    assert "fakepkg.nowhere.at_all" in violations[0].what


@pytest.mark.parametrize(
    ("source", "line", "fragment"),
    [
        ("import socket", 1, "socket"),
        ("import http.client", 1, "http"),
        ("from urllib.request import urlopen", 1, "urllib"),
        ("import ssl", 1, "ssl"),
        ("import subprocess", 1, "subprocess"),
        ("from random import choice", 1, "random"),
        ("import secrets", 1, "secrets"),
        ("import uuid", 1, "uuid"),
        ("import threading", 1, "threading"),
        ("import asyncio", 1, "asyncio"),
        ("from concurrent.futures import ThreadPoolExecutor", 1, "concurrent"),
        ("import multiprocessing", 1, "multiprocessing"),
        ("import selectors", 1, "selectors"),
        ("import signal", 1, "signal"),
        ("def f():\n    import time as t\n", 2, "time"),
        ("from os import urandom", 1, "os.urandom"),
        ("from os import system as run", 1, "os.system"),
        ("from os import getrandom", 1, "os.getrandom"),
        ("import os\nos.system('ls')", 2, "os.system"),
        ("import os as o\no.popen('ls')", 2, "os.popen"),
        ("import os\nx = os.getrandom(4)", 2, "os.getrandom"),
        ("print('hi')", 1, "print"),
        ("x = input()", 1, "input"),
        ("eval('1')", 1, "eval"),
        ("exec('1')", 1, "exec"),
        ("breakpoint()", 1, "breakpoint"),
        ("import builtins\nbuiltins.open('f')", 2, "open"),
        ("y = 1\nz = date.today()", 2, "date.today"),
        ("z = datetime.now()", 1, "datetime.now"),
        ("z = datetime.datetime.utcnow()", 1, "datetime.datetime.utcnow"),
    ],
)
def test_each_banned_thing_is_found(fake: Path, source: str, line: int, fragment: str) -> None:
    path = _write(fake, "core/bad.py", source + "\n")
    violations = _check(fake, path)
    assert (path.name, line) in _found(violations), violations
    assert any(fragment in v.what for v in violations if v.line == line), violations


@pytest.mark.parametrize(
    ("source", "lines"),
    [
        ("import datetime\n\nx = datetime.datetime.now()\n", {1, 3}),
        ("import datetime as dt\ny = dt.date.today()\n", {1, 2}),
        ("from datetime import date as D\ny = D.today()\n", {1, 2}),
        ("from time import monotonic as mono\n\ny = mono()\n", {1, 3}),
        ("import time\nx = 1\ny = time.perf_counter_ns()\n", {1, 3}),
        ("import uuid\nx = uuid.uuid4().hex\n", {1, 2}),
        ("import random\nrandom.seed(1)\nx = random.random()\n", {1, 2, 3}),
        # a reference to a banned function is as bad as a call
        ("import time\nclock = time.time\n", {1, 2}),
    ],
)
def test_banned_calls_through_imports(fake: Path, source: str, lines: set[int]) -> None:
    path = _write(fake, "core/calls.py", source)
    assert {v.line for v in _check(fake, path)} == lines


@pytest.mark.parametrize(
    "source",
    [
        "import os\npath = os.path.join('a', 'b')\nenv = os.sep\n",
        "def f(print):\n    print(1)\n",
        "def f(input: dict) -> dict:\n    return input\n",
        "class Record:\n    time: float = 0.0\n\nx = Record().time\n",
        "import json\nx = json.dumps({'time': 1})\n",
        "import hashlib\nx = hashlib.sha256(b'').hexdigest()\n",
        "def now() -> int:\n    return 0\n\nx = now()\n",
        "import re\npattern = re.compile('a')\n",
    ],
)
def test_no_false_positives(fake: Path, source: str) -> None:
    path = _write(fake, "core/fine.py", source)
    assert _check(fake, path) == []


def test_each_root_file_is_checked_once_and_sorted(fake: Path) -> None:
    a = _write(fake, "core/a.py", "import time\nfrom . import b\n")
    b = _write(fake, "core/b.py", "import uuid\n")
    violations = check_modules([b, a, a], fake, package="fakepkg")
    assert [(v.file.name, v.line) for v in violations] == [("a.py", 1), ("b.py", 1)]


def test_unparsable_file_is_reported(fake: Path) -> None:
    path = _write(fake, "core/broken.py", "def f(:\n")
    violations = _check(fake, path)
    assert len(violations) == 1
    assert violations[0].file == path
