"""Agent traces: the tool calls an agent made, one JSON object per line.

``TraceCall`` is one recorded call. The readers, the OpenTelemetry importer and the
``Recorder`` that writes traces from an agent loop live beside it.
"""

from dagwright.traces._records import TraceCall

__all__ = ["TraceCall"]
