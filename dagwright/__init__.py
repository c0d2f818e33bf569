"""dagwright: typed, statically checked DAGs for agent tool chains, run deterministically.

Public names only; the implementation lives in private modules.
"""

from dagwright.checkpoint import (
    Checkpointer,
    InMemoryCheckpointer,
    RunHeader,
    SQLiteCheckpointer,
)
from dagwright.compiler import CompiledFlow, Diagnostic, compile_flow
from dagwright.errors import (
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
    PredicateError,
    RunExistsError,
    RunFailedError,
    RunLockedError,
    StepCancelledError,
    StepError,
    StepTimeoutError,
    SubflowError,
    ToolDefinitionError,
    ToolExecutionError,
    ToolImportError,
    ToolInputError,
    ToolManifestError,
    ToolOutputError,
    UsageError,
)
from dagwright.executor import FlowExecutor
from dagwright.flows import DAGFlow, Flow, Literal, MapStep, RetryPolicy, Step
from dagwright.io import dump_flow, flow_json_schema, load_flow, load_tool_manifest
from dagwright.registry import FlowRegistry
from dagwright.results import AttemptRecord, ErrorInfo, ExecutionResult, StepRecord
from dagwright.tools import Tool, ToolSpec, tool

__version__ = "0.1.0"

__all__ = [
    "AttemptRecord",
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
    "InMemoryCheckpointer",
    "Literal",
    "MapStep",
    "PredicateError",
    "RetryPolicy",
    "RunExistsError",
    "RunFailedError",
    "RunHeader",
    "RunLockedError",
    "SQLiteCheckpointer",
    "Step",
    "StepCancelledError",
    "StepError",
    "StepRecord",
    "StepTimeoutError",
    "SubflowError",
    "Tool",
    "ToolDefinitionError",
    "ToolExecutionError",
    "ToolImportError",
    "ToolInputError",
    "ToolManifestError",
    "ToolOutputError",
    "ToolSpec",
    "UsageError",
    "__version__",
    "compile_flow",
    "dump_flow",
    "flow_json_schema",
    "load_flow",
    "load_tool_manifest",
    "tool",
]
