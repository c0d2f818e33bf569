"""Reading and writing what lives outside Python: flow files and their JSON Schema.

A client of the public API: nothing here is needed to build or run flows in Python.
"""

from dagwright._source import SourceMap
from dagwright.io.files import dump_flow, flow_source, load_flow, load_flows
from dagwright.io.schema import flow_json_schema

__all__ = [
    "SourceMap",
    "dump_flow",
    "flow_json_schema",
    "flow_source",
    "load_flow",
    "load_flows",
]
