"""Agent traces: the tool calls an agent made, one JSON object per line.

``TraceCall`` is one recorded call. ``read_traces`` reads trace files (JSON Lines, see
``docs/traces.md``), ``read_otel`` imports OpenTelemetry GenAI ``execute_tool`` spans
exported as OTLP JSON, ``Recorder`` appends the calls of an agent loop to a trace file
and ``write_traces`` writes calls atomically. ``trace_json_schema`` is the JSON Schema of
one trace line. Importing this package imports nothing beyond the standard library and
dagwright's own errors.
"""

from dagwright.traces._otel import read_otel
from dagwright.traces._read import read_traces
from dagwright.traces._records import TraceCall
from dagwright.traces._write import Recorder, write_traces
from dagwright.traces.schema import trace_json_schema

__all__ = ["Recorder", "TraceCall", "read_otel", "read_traces", "trace_json_schema", "write_traces"]
