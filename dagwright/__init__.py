"""dagwright: typed, statically checked DAGs for agent tool chains, run deterministically.

Public names only; the implementation lives in private modules.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dagwright._call_context import CallContext, current_call
from dagwright._lazy import lazy_names
from dagwright.cache import (
    CacheEntry,
    CacheKey,
    CacheStats,
    InMemoryStepCache,
    StepCache,
)
from dagwright.checkpoint import (
    Checkpointer,
    InMemoryCheckpointer,
    RunHeader,
)
from dagwright.compiler import CompiledFlow, Diagnostic, compile_flow
from dagwright.errors import (
    CacheError,
    CallWithheldError,
    CheckpointBusyError,
    CheckpointCorruptError,
    CheckpointError,
    CheckpointMismatchError,
    CheckpointNotFoundError,
    ContextCollisionError,
    DagwrightError,
    ExecutorClosedError,
    FlowCompileError,
    FlowDefinitionError,
    FlowFileError,
    FlowInputError,
    FlowNotFoundError,
    FlowRetiredError,
    IntegrationUnavailableError,
    MCPError,
    MCPSchemaError,
    MCPToolError,
    PredicateError,
    RunExistsError,
    RunFailedError,
    RunLockedError,
    RunnerError,
    StepCancelledError,
    StepError,
    StepInterruptedError,
    StepTimeoutError,
    SubflowError,
    ToolDefinitionError,
    ToolExecutionError,
    ToolImportError,
    ToolInputError,
    ToolManifestError,
    ToolOutputError,
    ToolUnavailableError,
    TraceFileError,
    UsageError,
    WorkerLostError,
)
from dagwright.executor import FlowExecutor
from dagwright.flows import DAGFlow, Flow, Literal, MapStep, RetryPolicy, Step
from dagwright.registry import FlowRegistry, FlowVersion
from dagwright.results import AttemptRecord, ErrorInfo, ExecutionResult, StepRecord
from dagwright.tools import Tool, ToolSpec, tool

if TYPE_CHECKING:
    from dagwright._inputs import RunInputs
    from dagwright._recover import RecoveryFailure, RecoveryReport
    from dagwright._verify import Divergence, VerifyReport
    from dagwright.cache import SQLiteStepCache
    from dagwright.checkpoint import SQLiteCheckpointer
    from dagwright.executor import FlowRef
    from dagwright.io import dump_flow, flow_json_schema, load_flow, load_tool_manifest
    from dagwright.mining import MinedFlow, MiningReport
    from dagwright.profiling import BenchReport, TimelineBar

__version__ = "0.1.0"

__all__ = [
    "AttemptRecord",
    "BenchReport",
    "CacheEntry",
    "CacheError",
    "CacheKey",
    "CacheStats",
    "CallContext",
    "CallWithheldError",
    "CheckpointBusyError",
    "CheckpointCorruptError",
    "CheckpointError",
    "CheckpointMismatchError",
    "CheckpointNotFoundError",
    "Checkpointer",
    "CompiledFlow",
    "ContextCollisionError",
    "DAGFlow",
    "DagwrightError",
    "Diagnostic",
    "Divergence",
    "ErrorInfo",
    "ExecutionResult",
    "ExecutorClosedError",
    "Flow",
    "FlowCompileError",
    "FlowDefinitionError",
    "FlowExecutor",
    "FlowFileError",
    "FlowInputError",
    "FlowNotFoundError",
    "FlowRegistry",
    "FlowRetiredError",
    "FlowVersion",
    "InMemoryCheckpointer",
    "InMemoryStepCache",
    "IntegrationUnavailableError",
    "Literal",
    "MCPError",
    "MCPSchemaError",
    "MCPToolError",
    "MapStep",
    "MinedFlow",
    "MiningReport",
    "PredicateError",
    "RecoveryFailure",
    "RecoveryReport",
    "RetryPolicy",
    "RunExistsError",
    "RunFailedError",
    "RunHeader",
    "RunLockedError",
    "RunnerError",
    "SQLiteCheckpointer",
    "SQLiteStepCache",
    "Step",
    "StepCache",
    "StepCancelledError",
    "StepError",
    "StepInterruptedError",
    "StepRecord",
    "StepTimeoutError",
    "SubflowError",
    "TimelineBar",
    "Tool",
    "ToolDefinitionError",
    "ToolExecutionError",
    "ToolImportError",
    "ToolInputError",
    "ToolManifestError",
    "ToolOutputError",
    "ToolSpec",
    "ToolUnavailableError",
    "TraceFileError",
    "UsageError",
    "VerifyReport",
    "WorkerLostError",
    "__version__",
    "bench",
    "compile_flow",
    "current_call",
    "dump_flow",
    "flow_json_schema",
    "load_flow",
    "load_tool_manifest",
    "mine",
    "mine_report",
    "tool",
]


_LAZY = {
    "MinedFlow": "dagwright.mining",
    "MiningReport": "dagwright.mining",
    "RecoveryFailure": "dagwright._recover",
    "RecoveryReport": "dagwright._recover",
    "BenchReport": "dagwright.profiling",
    "TimelineBar": "dagwright.profiling",
    "dump_flow": "dagwright.io",
    "flow_json_schema": "dagwright.io",
    "load_flow": "dagwright.io",
    "load_tool_manifest": "dagwright.io",
    "SQLiteCheckpointer": "dagwright.checkpoint",
    "SQLiteStepCache": "dagwright.cache",
    "Divergence": "dagwright._verify",
    "VerifyReport": "dagwright._verify",
}
"""Public names whose modules load on first use, not with the package: flow files and
manifests (``dagwright.io``), mining (and the trace readers it uses), profiling, the
SQLite stores, recovery's report and the replay check's report."""


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())


def bench(
    executor: FlowExecutor,
    flow: FlowRef,
    inputs: RunInputs = None,
    *,
    repeat: int = 10,
    warmup: int = 1,
) -> BenchReport:
    """Measure ``repeat`` runs of ``flow`` after ``warmup`` unmeasured ones: see
    :func:`dagwright.profiling.bench`."""
    from dagwright.profiling import bench as _bench

    return _bench(executor, flow, inputs, repeat=repeat, warmup=warmup)


def mine(
    traces: Iterable[Any] | str | os.PathLike[str],
    specs: Iterable[Tool | ToolSpec],
    min_support: int = 3,
    *,
    tools: Iterable[Tool] | None = None,
) -> list[MinedFlow]:
    """The flows mined from agent ``traces``: see :func:`dagwright.mining.mine`."""
    from dagwright.mining import mine as _mine

    return _mine(traces, specs, min_support, tools=tools)


def mine_report(
    traces: Iterable[Any] | str | os.PathLike[str],
    specs: Iterable[Tool | ToolSpec],
    min_support: int = 3,
    *,
    tools: Iterable[Tool] | None = None,
) -> MiningReport:
    """Mined flows and dropped candidates: see :func:`dagwright.mining.mine_report`."""
    from dagwright.mining import mine_report as _mine_report

    return _mine_report(traces, specs, min_support, tools=tools)
