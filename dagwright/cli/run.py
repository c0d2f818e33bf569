"""``dagwright run FILE [FILES...]``: run a flow file, journaled, with live progress.

FILE is the flow to run; FILES are sub-flow files, registered alongside it. Tools come
from ``--tools MODULE`` and from the files' ``tools:`` sections, imported only now. The
run is driven through :meth:`FlowExecutor.stream` (or ``stream_resume`` for
``--resume``), so progress follows its events as they happen.

Ctrl-C stops the run cleanly: the first SIGINT raises ``KeyboardInterrupt`` in the
driving thread and further ones are ignored while the run records what it completed and
marks itself ``interrupted``; the command that resumes it is printed, and the exit code
is 130. The run id is chosen before the run starts (``FlowExecutor.new_run_id()`` when
``--run-id`` is not given), so it can always be printed.

``--json`` prints only the result on stdout (:meth:`ExecutionResult.to_dict`); progress
and log lines then go to stderr.

``--dask ADDRESS`` makes the tool calls on a Dask cluster (``FlowExecutor(...,
runner=DaskRunner(client))``, see :mod:`dagwright.cli._dask`); scheduling and the journal
stay in this process, so Ctrl-C, the resume command and ``--resume`` work as without it,
and the printed resume command names the same cluster.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from dagwright.cli._app import DEFAULT_DASK_TIMEOUT, DEFAULT_STORE
from dagwright.cli._common import (
    load_flow_files,
    log_lines,
    open_cache,
    open_store,
    parse_inputs,
)
from dagwright.cli._dask import address_problem, dask_runner, require_distributed
from dagwright.cli._errors import FAILED, INTERRUPTED, OK, command_line_error
from dagwright.cli._progress import Display, LiveDisplay, PlainDisplay, Tracker
from dagwright.errors import CheckpointNotFoundError, RunExistsError
from dagwright.results import ExecutionResult

if TYPE_CHECKING:
    from dagwright import FlowExecutor
    from dagwright.flows import Flow


def resume_command(args: argparse.Namespace, run_id: str, store: str) -> str:
    """The command line that finishes ``run_id``: the same files, tools and cluster."""
    words = ["dagwright", "run", *args.files]
    for module in args.tools:
        words += ["--tools", module]
    if args.dask is not None:
        words += ["--dask", args.dask]
        if args.dask_timeout is not None:
            words += ["--dask-timeout", f"{args.dask_timeout:g}"]
    words += ["--resume", run_id, "--store", store]
    return shlex.join(words)


@contextlib.contextmanager
def _ctrl_c(on_press: Callable[[], None]) -> Iterator[None]:
    """While the run goes, the first Ctrl-C raises ``KeyboardInterrupt`` and later ones
    are ignored until the run has recorded that it stopped. Left alone when SIGINT is not
    Python's default (ignored by the parent, or handled by an embedding program)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return

    def pressed(signum: int, frame: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        on_press()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, pressed)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def command(args: argparse.Namespace) -> int:
    """Run (or resume) the flow; 0 succeeded, 1 failed, 130 interrupted."""
    parser: argparse.ArgumentParser = args.parser
    if args.resume is not None and args.input is not None:
        parser.error("--input cannot be used with --resume: a resumed run keeps its inputs")
    if args.resume is not None and args.run_id is not None:
        parser.error("--run-id cannot be used with --resume: name the run to resume")
    if args.max_concurrency < 1:
        parser.error(f"--max-concurrency must be at least 1, got {args.max_concurrency}")
    dask_timeout = _dask_options(args, parser)

    from dagwright import FlowExecutor

    inputs = parse_inputs(args.input)
    flows, registry, unique = load_flow_files(args.files, args.tools)
    flow = flows[0]

    store_path = args.store if args.store is not None else DEFAULT_STORE
    store = open_store(store_path, create=args.resume is None, default=args.store is None)
    try:
        cache = open_cache(args.cache)
    except BaseException:
        store.close()
        raise
    run_id = args.resume if args.resume is not None else args.run_id or FlowExecutor.new_run_id()
    out = sys.stderr if args.json else sys.stdout
    display: Display | None = None
    try:
        with log_lines() as logs:
            tracker = Tracker(flow)
            with (
                dask_runner(args.dask, dask_timeout) as runner,
                FlowExecutor(
                    unique,
                    registry=registry,
                    checkpointer=store,
                    cache=cache,
                    max_concurrency=args.max_concurrency,
                    runner=runner,
                ) as executor,
                _ctrl_c(lambda: logs.setLevel(logging.ERROR)),  # abandoned calls are expected
            ):
                stream: Iterator[Any] | None = None
                try:
                    stream = _start(executor, args, flow, inputs, run_id, store_path)
                    if args.resume is not None:
                        from dagwright.checkpoint import read_run

                        tracker.restored(read_run(store, run_id, flow=flow))
                    if not args.no_progress and out.isatty():
                        title = f"{flow.name} v{flow.version}  run {run_id}"
                        display = LiveDisplay(tracker, out, title=title)
                    else:
                        display = PlainDisplay(tracker, out)
                    result = _drive(stream, display)
                except (KeyboardInterrupt, SystemExit) as stop:
                    if display is not None:
                        display.close()
                    why = (
                        "interrupted"
                        if isinstance(stop, KeyboardInterrupt)
                        else f"a tool exited the process (exit code {stop.code})"
                    )
                    if stream is None:  # stopped before the run existed: nothing to resume
                        print(f"dagwright: {why} before run {run_id} started", file=sys.stderr)
                    else:
                        _close(stream)  # records it interrupted, if _drive did not already
                        print(
                            f"dagwright: {why}: run {run_id} stopped and was saved; resume "
                            "it with:\n  " + resume_command(args, run_id, store_path),
                            file=sys.stderr,
                        )
                    if isinstance(stop, KeyboardInterrupt):
                        return INTERRUPTED
                    # the tool's own exit code; the run did not finish, so never 0
                    return stop.code if isinstance(stop.code, int) and stop.code else FAILED
    finally:
        if display is not None:
            display.close()
        store.close()
        if cache is not None:
            cache.close()
    assert display is not None
    display.finish(result)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    return OK if result.success else FAILED


def _dask_options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> float:
    """Check ``--dask`` and ``--dask-timeout`` before anything is loaded; the timeout."""
    if args.dask is None:
        if args.dask_timeout is not None:
            parser.error("--dask-timeout goes with --dask: there is no scheduler to wait for")
        return DEFAULT_DASK_TIMEOUT
    timeout = DEFAULT_DASK_TIMEOUT if args.dask_timeout is None else args.dask_timeout
    if not 0 < timeout < math.inf:
        parser.error(f"--dask-timeout must be a positive number of seconds, got {timeout:g}")
    require_distributed()
    problem = address_problem(args.dask)
    if problem is not None:
        parser.error(f"--dask {args.dask!r} is not a Dask scheduler address: {problem}")
    return timeout


def _start(
    executor: FlowExecutor,
    args: argparse.Namespace,
    flow: Flow,
    inputs: dict[str, Any],
    run_id: str,
    store_path: str,
) -> Iterator[Any]:
    """The run's stream: a resume with ``--resume``, else a new run with ``run_id``."""
    try:
        if args.resume is not None:
            return executor.stream_resume(run_id, flow)
        return executor.stream(flow, inputs, run_id=run_id)
    except (CheckpointNotFoundError, RunExistsError) as error:
        resume = resume_command(args, run_id, store_path)
        raise command_line_error(error, store=store_path, resume=resume) from None


def _drive(stream: Iterator[Any], display: Display) -> ExecutionResult:
    """Feed the stream's events to the display; its last item is the result. The stream
    is closed however this ends, so an interrupt here stops (and records) the run."""
    try:
        for item in stream:
            if isinstance(item, ExecutionResult):
                return item
            display.event(item)
    finally:
        _close(stream)
    raise RuntimeError("dagwright internal error: the run's stream ended without a result")


def _close(stream: Iterator[Any]) -> None:
    """Close a run's stream (a generator): a run not finished is stopped and recorded
    ``interrupted``; closing twice, or a finished stream, does nothing."""
    close = getattr(stream, "close", None)
    if close is not None:
        close()
