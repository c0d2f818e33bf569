"""``import dagwright`` loads what running a flow needs, and nothing it can defer."""

from __future__ import annotations

import subprocess
import sys

import pytest

DEFERRED = ("asyncio", "dagwright.io", "argparse", "dagwright.mining", "dagwright.traces",
            "jsonschema", "structlog", "networkx", "yaml", "dagwright.lanes.aio",
            "dagwright.compiler._graph", "dagwright.compiler._typecheck",
            "dagwright.profiling", "sqlite3", "dagwright.checkpoint.sqlite",
            "dagwright.cache.sqlite", "dagwright.checkpoint.inspect", "dagwright.events",
            "dagwright.lanes.observe")  # fmt: skip


def _loaded_after(code: str) -> set[str]:
    script = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return set(done.stdout.split())


def test_import_dagwright_defers_what_a_run_may_never_need() -> None:
    loaded = _loaded_after("import dagwright")
    assert not loaded & set(DEFERRED), sorted(loaded & set(DEFERRED))


@pytest.mark.parametrize(
    ("name", "module"),
    [("load_flow", "dagwright.io"), ("dump_flow", "dagwright.io"),
     ("flow_json_schema", "dagwright.io"), ("load_tool_manifest", "dagwright.io"),
     ("MiningReport", "dagwright.mining"), ("SQLiteCheckpointer", "dagwright.checkpoint.sqlite"),
     ("SQLiteStepCache", "dagwright.cache.sqlite"),
     ("checkpoint.read_run", "dagwright.checkpoint.inspect")],
)  # fmt: skip
def test_deferred_names_load_on_first_use(name: str, module: str) -> None:
    code = f"import dagwright, dagwright.checkpoint\nassert dagwright.{name} is not None"
    loaded = _loaded_after(code)
    assert module in loaded


def test_deferred_names_are_the_real_objects() -> None:
    import dagwright
    import dagwright.io

    assert dagwright.load_flow is dagwright.io.load_flow
    assert "load_flow" in dir(dagwright)
    from dagwright.checkpoint import SQLiteCheckpointer
    from dagwright.checkpoint.sqlite import SQLiteCheckpointer as Real

    assert SQLiteCheckpointer is Real is dagwright.SQLiteCheckpointer
    assert "read_run" in dir(dagwright.checkpoint)
    with pytest.raises(AttributeError, match=r"'dagwright\.cache' has no attribute 'Nope'"):
        dagwright.cache.Nope  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        dagwright.nothing  # type: ignore[attr-defined]  # noqa: B018


def test_a_sync_run_never_imports_asyncio() -> None:
    code = (
        "from dagwright import Flow, FlowExecutor, Step, tool\n"
        "@tool\ndef inc(n: int) -> int:\n    '''Add one.'''\n    return n + 1\n"
        "with FlowExecutor([inc]) as ex:\n"
        "    assert ex.run(Flow('f', [Step(tool='inc')]), {'n': 1}).output['inc'] == 2"
    )
    loaded = _loaded_after(code)
    assert "asyncio" not in loaded
    assert "dagwright.events" not in loaded  # nobody took the events: none were built


def test_a_hook_loads_the_events() -> None:
    code = (
        "from dagwright import Flow, FlowExecutor, Step, tool\n"
        "@tool\ndef inc(n: int) -> int:\n    'Add one.'\n    return n + 1\n"
        "seen = []\n"
        "with FlowExecutor([inc], hooks=[seen.append]) as ex:\n"
        "    ex.run(Flow('f', [Step(tool='inc')]), {'n': 1})\n"
        "assert type(seen[0]).__name__ == 'RunStarted', seen"
    )
    assert "dagwright.events" in _loaded_after(code)
