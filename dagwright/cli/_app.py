"""The parser of the ``dagwright`` command and the dispatch to one command module.

argparse, from the standard library: the command line adds no dependency to the core and
behaves like ruff's and mypy's (``--help`` on every command, ``--version``, usage errors
exit 2 with argparse's message). Each command's module is imported only when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from dagwright.checkpoint.protocol import RUN_STATUSES
from dagwright.cli._errors import (
    BAD_INPUT,
    FAILED,
    INTERRUPTED,
    debug_enabled,
    report_error,
    report_internal,
    report_os_error,
)

DEFAULT_STORE = os.path.join(".dagwright", "runs.sqlite")
"""The store ``run`` and ``runs`` use when ``--store`` is not given (relative to the
current directory)."""

DEFAULT_CACHE = os.path.join(".dagwright", "cache.sqlite")
"""The step cache of ``run --cache`` and ``cache`` when no path is given."""

DEFAULT_DASK_TIMEOUT = 10.0
"""How long ``run --dask`` waits for the scheduler (to connect, and to close) when
``--dask-timeout`` is not given, in seconds."""

_EPILOG = (
    "exit codes: 0 success, 1 lint errors or a failed run, 2 usage error or unreadable "
    "input, 3 internal error, 130 interrupted"
)


_DEBUG_HELP = "print the traceback of an internal error (also DAGWRIGHT_DEBUG=1)"


def _version() -> str:
    from dagwright import __version__

    return __version__


def _codes(text: str) -> tuple[str, ...]:
    """``--select DW201,DW3`` (comma-separated, repeatable)."""
    return tuple(code.strip() for code in text.split(",") if code.strip())


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, every subcommand with its ``--help``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help=_DEBUG_HELP,
    )
    parser = argparse.ArgumentParser(
        prog="dagwright",
        description="Lint, run, inspect and draw dagwright flow files.",
        epilog=_EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"dagwright {_version()}")
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    lint = commands.add_parser(
        "lint",
        parents=[common],
        help="check flow files statically",
        description="Run every compile check on flow files. Without tools only the checks "
        "that need none run, and the report says which were skipped.",
        epilog="exit codes: 0 clean or warnings only (1 with --strict), 1 errors, "
        "2 unreadable input",
    )
    lint.add_argument("files", nargs="+", metavar="FILE", help="flow files (YAML or JSON)")
    source = lint.add_mutually_exclusive_group()
    source.add_argument(
        "--tools",
        action="append",
        default=[],
        metavar="MODULE",
        help="import the Tool objects of MODULE (dotted name or path/to/file.py; repeatable)",
    )
    source.add_argument(
        "--tools-manifest", metavar="FILE", help="check against a tool manifest instead"
    )
    lint.add_argument(
        "--format", choices=("text", "json", "sarif", "github"), default="text", help="output"
    )
    lint.add_argument(
        "--select", type=_codes, action="append", default=[], metavar="CODES",
        help="only these codes or prefixes (comma-separated)",
    )  # fmt: skip
    lint.add_argument(
        "--ignore", type=_codes, action="append", default=[], metavar="CODES",
        help="leave out these codes or prefixes (comma-separated)",
    )  # fmt: skip
    lint.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    lint.add_argument(
        "-o", "--output", metavar="FILE",
        help="write the report to FILE atomically instead of stdout (same exit code)",
    )  # fmt: skip
    lint.set_defaults(module="lint", parser=lint)

    run = commands.add_parser(
        "run",
        parents=[common],
        help="run a flow file",
        description="Run the flow in the first FILE; the other files hold the sub-flows it "
        "calls. Every run is journaled in the store, so an interrupted run can be finished "
        "with --resume.",
        epilog="exit codes: 0 the run succeeded, 1 it failed, 2 unusable input, "
        "130 interrupted (the command to resume it is printed)",
    )
    run.add_argument(
        "files", nargs="+", metavar="FILE", help="the flow to run, then its sub-flow files"
    )
    run.add_argument(
        "--input", metavar="JSON|@FILE", help="the run's inputs: a JSON object, or @file.json"
    )
    _tools_argument(run)
    run.add_argument("--store", metavar="PATH", help=f"the run store (default {DEFAULT_STORE})")
    run.add_argument("--run-id", metavar="ID", help="the new run's id (default: a random one)")
    run.add_argument("--resume", metavar="ID", help="finish the stored run ID instead")
    run.add_argument(
        "--max-concurrency", type=int, default=8, metavar="N",
        help="calls at once (default 8); with --dask, the calls the run has on the cluster "
        "at once: raise it to the cluster's worker threads",
    )  # fmt: skip
    run.add_argument(
        "--dask", metavar="ADDRESS",
        help="make every tool call on the Dask cluster whose scheduler is at ADDRESS, "
        "e.g. tcp://scheduler:8786 (needs the dask extra; the journal stays here)",
    )  # fmt: skip
    run.add_argument(
        "--dask-timeout", type=float, metavar="SECONDS",
        help=f"with --dask: how long to wait for the scheduler (default {DEFAULT_DASK_TIMEOUT:g})",
    )  # fmt: skip
    run.add_argument(
        "--cache", nargs="?", const=DEFAULT_CACHE, metavar="PATH",
        help="keep results of cacheable tools in the step cache PATH and reuse them "
        f"(default path {DEFAULT_CACHE})",
    )  # fmt: skip
    run.add_argument("--json", action="store_true", help="print only the result, as JSON")
    run.add_argument(
        "--no-progress", action="store_true", help="plain lines, no live display, on a terminal"
    )
    run.set_defaults(module="run", parser=run)

    bench = commands.add_parser(
        "bench",
        parents=[common],
        help="measure a flow file over repeated runs",
        description="Run the flow in the first FILE --warmup times unmeasured, then "
        "--repeat times measured, with no run store (a benchmark measures the flow, not "
        "the store), and print per step p50/p95 durations, the wall time, the time inside "
        "tools, the critical path, dagwright's overhead and the utilisation of the call "
        "slots. Every run must succeed; runs with different digests are reported as "
        "nondeterministic.",
        epilog="exit codes: 0 every run succeeded, 1 a run failed, 2 unusable input",
    )
    bench.add_argument(
        "files", nargs="+", metavar="FILE", help="the flow to run, then its sub-flow files"
    )
    bench.add_argument(
        "--input", metavar="JSON|@FILE", help="the runs' inputs: a JSON object, or @file.json"
    )
    _tools_argument(bench)
    bench.add_argument(
        "--repeat", type=int, default=10, metavar="N", help="measured runs (default 10)"
    )
    bench.add_argument(
        "--warmup", type=int, default=1, metavar="N",
        help="runs before those, not measured (default 1)",
    )  # fmt: skip
    bench.add_argument(
        "--max-concurrency", type=int, default=8, metavar="N", help="calls at once (default 8)"
    )
    bench.add_argument(
        "--timeline", metavar="FILE.html",
        help="write the median run's timeline there: one self-contained HTML page",
    )  # fmt: skip
    bench.add_argument("--json", action="store_true", help="print the report as JSON")
    bench.set_defaults(module="bench", parser=bench)

    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="serve flow files as MCP tools",
        description="Serve every flow in FILES as one MCP tool (sub-flows resolve among "
        "them). Every call is a run journaled in the store, so a crashed call can be "
        "finished with `dagwright run --resume`. Under stdio, stdout carries only the "
        "protocol: messages, and anything a tool prints, go to stderr.",
        epilog="exit codes: 0 the client went away or the server was stopped, "
        "2 unusable input, 130 interrupted",
    )
    serve.add_argument("files", nargs="+", metavar="FILE", help="the flows to serve")
    _tools_argument(serve)
    serve.add_argument(
        "--transport", choices=("stdio", "streamable-http"), default="stdio",
        help="stdio (default; for a client that starts the server) or streamable-http",
    )  # fmt: skip
    serve.add_argument("--host", default="127.0.0.1", help="streamable-http: address to bind")
    serve.add_argument(
        "--port", type=int, default=8000, help="streamable-http: port (default 8000)"
    )
    serve.add_argument("--store", metavar="PATH", help=f"the run store (default {DEFAULT_STORE})")
    serve.add_argument(
        "--max-concurrency",
        type=int,
        default=8,
        metavar="N",
        help="calls at once per run (default 8)",
    )
    serve.add_argument("--name", default="dagwright", help="the server's name (default dagwright)")
    serve.set_defaults(module="serve", parser=serve)

    mine = commands.add_parser(
        "mine",
        parents=[common],
        help="find the tool chains agents repeat in traces, as flows",
        description="Mine agent traces for the tool chains repeated across sessions. Each "
        "chain found in at least --min-support sessions is a flow, compiled against the "
        "tools and replayed on its sessions; the report lists them, and the candidates "
        "dropped with why. TRACES are JSON Lines trace files or directories of them "
        "(*.jsonl; with --otel, OTLP JSON exports, *.json).",
        epilog="exit codes: 0 success (also when nothing is mined), 2 unusable input",
    )
    mine.add_argument("traces", nargs="+", metavar="TRACES", help="trace files or directories")
    mine_tools = mine.add_mutually_exclusive_group(required=True)
    mine_tools.add_argument(
        "--tools", action="append", default=[], metavar="MODULE",
        help="import the Tool objects of MODULE (repeatable); mined flows are replayed",
    )  # fmt: skip
    mine_tools.add_argument(
        "--tools-manifest", metavar="FILE",
        help="check against a tool manifest instead (nothing is imported or replayed)",
    )  # fmt: skip
    mine.add_argument(
        "--min-support", type=int, default=3, metavar="N",
        help="sessions a chain must appear in (default 3)",
    )  # fmt: skip
    mine.add_argument(
        "-o", "--output", metavar="DIR",
        help="write each mined flow to DIR/<name>.flow.yaml (the directory is created)",
    )  # fmt: skip
    mine.add_argument("--json", action="store_true", help="print the report as JSON")
    mine.add_argument(
        "--otel", action="store_true", help="TRACES are OpenTelemetry OTLP JSON exports"
    )
    mine.set_defaults(module="mine", parser=mine)

    runs = commands.add_parser(
        "runs",
        parents=[common],
        help="list, show, delete, recover or verify stored runs",
        description="Read the run store (never creating one).",
    )
    actions = runs.add_subparsers(dest="action", metavar="ACTION", required=True)
    store_args = argparse.ArgumentParser(add_help=False)
    store_args.add_argument(
        "--store", metavar="PATH", default=DEFAULT_STORE, help=f"default {DEFAULT_STORE}"
    )
    store_args.add_argument("--json", action="store_true", help="print JSON")
    listing = actions.add_parser(
        "list", parents=[common, store_args], help="stored runs, newest first"
    )
    listing.add_argument("--status", choices=RUN_STATUSES, help="only the runs with this status")
    listing.set_defaults(module="runs", parser=listing)
    show = actions.add_parser(
        "show", parents=[common, store_args], help="one run: its header and step records"
    )
    show.add_argument("run_id", metavar="RUN_ID")
    show.set_defaults(module="runs", parser=show)
    delete = actions.add_parser(
        "delete", parents=[common, store_args], help="forget a run that nobody is running"
    )
    delete.add_argument("run_id", metavar="RUN_ID")
    delete.set_defaults(module="runs", parser=delete)
    verify = actions.add_parser(
        "verify",
        parents=[common, store_args],
        help="run a stored run again and compare it with its record",
        description="The replay check: run the stored run's flow again from its recorded "
        "inputs, under the same run id, against a scratch store (the store is only read), "
        "and compare each recorded step's status and outputs with the new ones. FILES "
        "(the run's flow file and its sub-flow files) and --tools are loaded as for "
        "`dagwright run FILE --resume ID`; the run's flow is found among them by name and "
        "version. Calls of idempotent=False tools are not made: their recorded outcomes "
        "are used, unless --allow-side-effects.",
        epilog="exit codes: 0 the run reproduces, 1 it diverges, 2 unusable input",
    )
    verify.add_argument("run_id", metavar="RUN_ID")
    verify.add_argument(
        "files", nargs="*", metavar="FILE", help="the run's flow file, then its sub-flow files"
    )
    _tools_argument(verify)
    verify.add_argument(
        "--allow-side-effects", action="store_true",
        help="call idempotent=False tools too (with the recorded run's idempotency keys)",
    )  # fmt: skip
    verify.set_defaults(module="runs_verify", parser=verify)
    recover = actions.add_parser(
        "recover",
        parents=[common, store_args],
        help="resume every run whose owner is gone",
        description="Resume every stored run that is running or interrupted and whose owner "
        "is gone (its process died, or its lease expired), --max-workers at a time, with "
        "the flows of FILES (and their tools). A run already recovered --max-attempts times "
        "is marked dead instead, and left alone from then on.",
        epilog="exit codes: 0 every resumed run succeeded and none died or errored, 1 "
        "otherwise, 2 unusable input, 130 interrupted",
    )
    recover.add_argument(
        "files", nargs="*", metavar="FILE", help="the runs' flow files, and their sub-flow files"
    )
    _tools_argument(recover)
    recover.add_argument(
        "--max-attempts", type=int, default=3, metavar="N",
        help="recoveries a run gets before it is marked dead (default 3)",
    )  # fmt: skip
    recover.add_argument(
        "--max-workers", type=int, default=4, metavar="N", help="runs resumed at once (default 4)"
    )
    recover.set_defaults(module="runs_recover", parser=recover)

    cache = commands.add_parser(
        "cache",
        parents=[common],
        help="inspect or clear a step cache",
        description="Read or clear the step cache file that `run --cache` uses (never "
        "creating one).",
    )
    cache_actions = cache.add_subparsers(dest="action", metavar="ACTION", required=True)
    cache_args = argparse.ArgumentParser(add_help=False)
    cache_args.add_argument(
        "--cache", metavar="PATH", default=DEFAULT_CACHE, help=f"default {DEFAULT_CACHE}"
    )
    cache_args.add_argument("--json", action="store_true", help="print JSON")
    stats = cache_actions.add_parser(
        "stats", parents=[common, cache_args], help="entries per tool and the file's size"
    )
    stats.set_defaults(module="cache", parser=stats)
    clear = cache_actions.add_parser(
        "clear", parents=[common, cache_args], help="drop every entry, or one tool's"
    )
    clear.add_argument("--tool", metavar="NAME", help="drop only this tool's entries")
    clear.set_defaults(module="cache", parser=clear)

    graph = commands.add_parser(
        "graph",
        parents=[common],
        help="draw a flow file's DAG",
        description="Draw the DAG of a flow file: maps and sub-flows visible, `when` on "
        "edges; with --run, steps coloured by the status the run recorded.",
    )
    graph.add_argument("file", metavar="FILE")
    graph.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    graph.add_argument("--run", metavar="RUN_ID", help="colour steps by this run's statuses")
    graph.add_argument(
        "--store", metavar="PATH", default=DEFAULT_STORE, help=f"default {DEFAULT_STORE}"
    )
    graph.set_defaults(module="graph", parser=graph)

    schema = commands.add_parser(
        "schema",
        parents=[common],
        help="print the JSON Schema of flow files",
        description="Print the JSON Schema (draft 2020-12) that flow files follow.",
    )
    schema.set_defaults(module="schema", parser=schema)

    tools = commands.add_parser(
        "tools", parents=[common], help="tool manifests", description="Tool manifests."
    )
    tool_actions = tools.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = tool_actions.add_parser(
        "export",
        parents=[common],
        help="write the manifest of the tools in modules and MCP servers",
        description="Write the tool manifest (JSON) of every Tool object in the modules "
        "and of every tool of the MCP servers given with --mcp.",
    )
    export.add_argument(
        "modules", nargs="*", metavar="MODULE", help="dotted module name or path/to/file.py"
    )
    export.add_argument(
        "--mcp", action="append", default=[], metavar="COMMAND|URL",
        help="also the tools of this MCP server: a command line that starts a stdio server, "
        "or an http(s):// URL (repeatable; needs the mcp extra)",
    )  # fmt: skip
    export.add_argument("-o", "--output", metavar="FILE", help="write it there (default: stdout)")
    export.set_defaults(module="tools", parser=export)
    return parser


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that flushing it at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (captured): nothing will be flushed to a closed pipe


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); the exit code.

    Never raises for bad input or an interrupt: each becomes one line on stderr and its
    exit code (see :mod:`dagwright.cli._errors`).
    """
    from dagwright.errors import DagwrightError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error (2)
        return stop.code if isinstance(stop.code, int) else BAD_INPUT
    debug = debug_enabled(bool(getattr(args, "debug", False)))
    try:
        module = importlib.import_module(f"dagwright.cli.{args.module}")
        code: int = module.command(args)
        return code
    except SystemExit as stop:  # a usage error found by the command (parser.error)
        return stop.code if isinstance(stop.code, int) else BAD_INPUT
    except DagwrightError as error:
        return report_error(error)
    except BrokenPipeError:  # `dagwright schema | head`: the reader has gone
        _silence_stdout()
        return FAILED
    except (OSError, UnicodeDecodeError) as error:
        return report_os_error(error)
    except KeyboardInterrupt:
        print("dagwright: interrupted", file=sys.stderr)
        return INTERRUPTED
    except Exception as error:
        return report_internal(error, debug=debug)


def _tools_argument(parser: argparse.ArgumentParser) -> None:
    """``--tools MODULE`` (repeatable) of the commands that load flow files."""
    parser.add_argument(
        "--tools", action="append", default=[], metavar="MODULE",
        help="import the Tool objects of MODULE, besides the files' tools: (repeatable)",
    )  # fmt: skip
