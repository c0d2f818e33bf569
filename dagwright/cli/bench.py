"""``dagwright bench FILE [FILES...]``: measure a flow file over repeated runs.

Parsing plus one call of :func:`dagwright.bench`: the flow runs on an executor with
no run store and no step cache (a benchmark measures the flow, not the store), with
``--max-concurrency`` call slots. The report is printed as text
(:meth:`BenchReport.render`) or, with ``--json``, as :meth:`BenchReport.to_dict`;
``--timeline`` writes the median run's HTML timeline atomically. A failed run ends the
command with its error on one line and exit code 1; a nondeterministic flow is a
``dagwright: warning:`` line on stderr, and its report is printed all the same.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from dagwright.cli._common import load_flow_files, log_lines, parse_inputs
from dagwright.cli._errors import FAILED, OK, error_lines
from dagwright.errors import RunFailedError


def command(args: argparse.Namespace) -> int:
    """Measure the flow; 0 every run succeeded, 1 one failed."""
    parser: argparse.ArgumentParser = args.parser
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    if args.warmup < 0:
        parser.error(f"--warmup must be at least 0, got {args.warmup}")
    if args.max_concurrency < 1:
        parser.error(f"--max-concurrency must be at least 1, got {args.max_concurrency}")
    if args.timeline is not None:
        folder = os.path.dirname(os.path.abspath(args.timeline))
        if not os.path.isdir(folder):
            parser.error(f"--timeline: the directory {folder} does not exist")

    from dagwright import FlowExecutor, bench

    inputs = parse_inputs(args.input)
    flows, registry, tools = load_flow_files(args.files, args.tools)
    with (
        log_lines(),
        FlowExecutor(tools, registry=registry, max_concurrency=args.max_concurrency) as executor,
    ):
        try:
            report = bench(executor, flows[0], inputs, repeat=args.repeat, warmup=args.warmup)
        except RunFailedError as error:
            for line in error_lines(error):
                print(line, file=sys.stderr)
            return FAILED
    for warning in report.warnings:
        print(f"dagwright: warning: {warning}", file=sys.stderr)
    if args.timeline is not None:
        report.write_timeline(args.timeline)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(report.render())
        if args.timeline is not None:
            print(f"\ntimeline of the median run: {args.timeline}")
    return OK
