"""Warnings are not silent: strict compilation, and the executor's warning log."""

from __future__ import annotations

import logging

import pytest

from dagwright import FlowExecutor
from dagwright.compiler import compile_flow
from dagwright.errors import FlowCompileError
from dagwright.flows import Flow, Step
from dagwright.registry import FlowRegistry
from tests.compiler._fixtures import TOOLS, bare, double

NOISY = Flow("noisy", [Step(tool="bare")], description="Uses a tool without a description.")
QUIET = Flow("quiet", [Step(tool="double")], description="Doubles n.")


def test_warnings_compile_unless_strict() -> None:
    assert [d.code for d in compile_flow(NOISY, TOOLS).warnings] == ["DW403"]
    with pytest.raises(FlowCompileError) as caught:
        compile_flow(NOISY, TOOLS, strict=True)
    [error] = [d for d in caught.value.diagnostics if d.severity == "error"]
    assert error.code == "DW403" and error.step_id == "bare"
    assert "DW403" in str(caught.value)


def test_strict_without_warnings_compiles_and_infos_do_not_count() -> None:
    compile_flow(QUIET, TOOLS, strict=True)
    bare_flow = Flow("f", [Step(tool="double")])  # only DW404, an info
    assert compile_flow(bare_flow, TOOLS, strict=True).warnings == ()


def test_strict_does_not_change_the_cache() -> None:
    with pytest.raises(FlowCompileError):
        compile_flow(NOISY, TOOLS, strict=True)
    first = compile_flow(NOISY, TOOLS)
    with pytest.raises(FlowCompileError):
        compile_flow(NOISY, TOOLS, strict=True)
    assert compile_flow(NOISY, TOOLS) is first


def test_sub_flow_warnings_count_and_name_the_calling_step() -> None:
    registry = FlowRegistry([NOISY])
    caller = Flow("caller", [Step(id="call", flow="noisy")], description="Calls noisy.")
    compiled = compile_flow(caller, TOOLS, registry)
    [warning] = compiled.all_warnings
    assert warning.step_id == "call"
    assert warning.message.startswith("in sub-flow 'noisy' at step 'bare': ")
    with pytest.raises(FlowCompileError) as caught:
        compile_flow(caller, TOOLS, registry, strict=True)
    assert [d.code for d in caught.value.diagnostics if d.severity == "error"] == ["DW403"]


def _warning_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "dagwright"
        and r.levelno == logging.WARNING
        and "flow_warnings" in r.getMessage()
    ]


@pytest.mark.timeout(30)
def test_the_executor_logs_a_plans_warnings_once(caplog: pytest.LogCaptureFixture) -> None:
    with FlowExecutor([bare, double]) as ex, caplog.at_level(logging.WARNING, logger="dagwright"):
        assert ex.run(NOISY, {"n": 2}).success
        assert ex.run(NOISY, {"n": 3}).success
        ex.compile(NOISY)
        assert ex.run(QUIET, {"n": 2}).success
    [line] = _warning_records(caplog)
    assert "flow='noisy'" in line
    assert "DW403" in line
    assert "has no description" in line


@pytest.mark.timeout(30)
def test_a_strict_executor_refuses_warnings(caplog: pytest.LogCaptureFixture) -> None:
    with FlowExecutor([bare, double], strict=True) as ex:
        with pytest.raises(FlowCompileError):
            ex.run(NOISY, {"n": 2})
        assert ex.run(QUIET, {"n": 2}).success
