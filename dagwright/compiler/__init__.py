"""The compiler: static checks of a flow and its immutable plan.

``compile_flow(flow, tools, registry)`` runs every structural, data-flow, context and
hygiene check, reports all findings at once as :class:`Diagnostic`s with stable codes
(:data:`CODES`, documented in ``docs/reference/diagnostics.md``), and returns a
:class:`CompiledFlow` holding the :class:`~dagwright._execution.plan.Plan` the executor
runs, or raises :class:`~dagwright.errors.FlowCompileError` when any finding is an error.
``render_graph(flow)`` draws a flow, compiled or not, as Mermaid or Graphviz DOT text.
"""

from dagwright.compiler._compile import CompiledFlow, clear_cache, compile_flow
from dagwright.compiler._render import GraphFormat, render_graph
from dagwright.compiler.diagnostics import CODES, Diagnostic, DiagnosticCode, Severity

__all__ = [
    "CODES",
    "CompiledFlow",
    "Diagnostic",
    "DiagnosticCode",
    "GraphFormat",
    "Severity",
    "clear_cache",
    "compile_flow",
    "render_graph",
]
