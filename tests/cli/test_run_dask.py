"""``dagwright run --dask ADDRESS``: the calls of a run made on a real Dask cluster.

One ``LocalCluster`` of two worker processes serves the module. A run through it prints
and records what a local run does (digest included), its calls run in the workers'
processes, and Ctrl-C prints a resume command that finishes the run on the same cluster.
An unreachable scheduler, a bad address and a missing ``dask`` extra are one coded line.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import distributed
import pytest

from tests.cli.conftest import ROOT, Cli, run_script, script
from tests.cli.dask_tools import GATED_FLOW, WHERE_FLOW, calls
from tests.cli.flows import FAILING, write
from tests.cli.test_interrupt import LAUNCH

pytestmark = pytest.mark.timeout(60)

PIPELINE = (str(ROOT / "examples" / "pipeline.flow.yaml"),
            str(ROOT / "examples" / "summarize.flow.yaml"))  # fmt: skip
QUESTION = '{"question": "How does dependency-driven scheduling keep workers busy?"}'
TOOLS = ("--tools", "tests.cli.cli_tools")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """The scheduler address of a cluster of two worker processes (one thread each)."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local.scheduler_address


@pytest.fixture
def at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the command from the repository root, where ``examples`` and ``tests`` import."""
    monkeypatch.chdir(ROOT)


def without_times(value: Any) -> Any:
    """A result's JSON without the fields that differ between two runs of one flow: times,
    and tracebacks (a worker's frames are not the driver's; neither is in the digest)."""
    if isinstance(value, dict):
        return {
            key: without_times(item)
            for key, item in value.items()
            if key not in ("started_at", "ended_at", "traceback", "run_id")
        }
    if isinstance(value, list):
        return [without_times(item) for item in value]
    return value


@pytest.mark.usefixtures("at_root")
def test_a_dask_run_has_the_output_records_and_digest_of_a_local_run(
    cli: Cli, cluster: str, tmp_path: Path
) -> None:
    store = str(tmp_path / "runs.sqlite")
    code, out, err = cli("run", *PIPELINE, "--input", QUESTION, "--store", store, "--json")
    assert code == 0, err
    local = json.loads(out)
    code, out, err = cli("run", *PIPELINE, "--input", QUESTION, "--store", store, "--json",
                         "--dask", cluster)  # fmt: skip
    assert code == 0, err
    remote = json.loads(out)
    assert remote["digest"] == local["digest"]
    assert without_times(remote) == without_times(local)
    # the collected dead link came back from the worker as the same recorded error
    assert remote["output"]["fetch_errors"] == local["output"]["fetch_errors"] != []


@pytest.mark.usefixtures("at_root")
def test_every_call_is_made_in_a_worker_process(cli: Cli, cluster: str, tmp_path: Path) -> None:
    flow = write(tmp_path, "where.flow.yaml", WHERE_FLOW)
    code, out, err = cli("run", flow, "--input", json.dumps({"items": list(range(12))}),
                         "--store", str(tmp_path / "runs.sqlite"), "--json", "--dask", cluster,
                         "--max-concurrency", "32")  # fmt: skip
    assert code == 0, err
    pids = {place["pid"] for place in json.loads(out)["output"]["places"]}
    with distributed.Client(cluster, timeout=10, set_as_default=False) as client:
        workers = set(client.run(os.getpid).values())
    assert pids and pids <= workers
    assert os.getpid() not in pids


@pytest.mark.usefixtures("at_root")
def test_a_failed_dask_run_prints_what_a_failed_local_run_prints(
    cli: Cli, cluster: str, tmp_path: Path
) -> None:
    flow = write(tmp_path, "failing.flow.yaml", FAILING)

    def run(store: str, *more: str) -> tuple[int, list[str], str]:
        code, out, err = cli("run", flow, *TOOLS, "--input", '{"n": 3}', "--store", store,
                             "--run-id", "f1", *more)  # fmt: skip
        return code, re.sub(r"\d+\.\d\ds", "N.NNs", out).splitlines(), err

    local = run(str(tmp_path / "local.sqlite"))
    remote = run(str(tmp_path / "remote.sqlite"), "--dask", cluster)
    assert local[0] == remote[0] == 1

    # double and square run at once: either may end first and take the line "[1/4]"
    def unnumbered(lines: list[str]) -> list[str]:
        return sorted(re.sub(r"^\[\d+/4\] ", "", line) for line in lines)

    assert unnumbered(remote[1][:2]) == unnumbered(local[1][:2])
    assert {line[:6] for line in remote[1][:2]} == {"[1/4] ", "[2/4] "}
    assert remote[1][2:] == local[1][2:]
    assert remote[1][-1] == (
        "run f1 failed in N.NNs at step 'publish': [DW-E101] ValueError: cannot publish 15"
    )
    assert remote[2] == local[2]  # the same warnings, nothing from Dask


@pytest.mark.usefixtures("at_root")
def test_ctrl_c_prints_a_resume_command_that_finishes_the_run_on_the_cluster(
    cli: Cli, cluster: str, tmp_path: Path
) -> None:
    flow = write(tmp_path, "gated.flow.yaml", GATED_FLOW)
    store = str(tmp_path / "runs.sqlite")
    work = tmp_path / "work"
    work.mkdir()
    inputs = json.dumps({"n": 3, "work_dir": str(work)})
    argv = [sys.executable, "-c", LAUNCH, script(), "run", flow, "--input", inputs, "--store",
            store, "--run-id", "ctrl-c", "--dask", cluster, "--dask-timeout", "20"]  # fmt: skip
    with subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("[1/2] prepare completed"), line
            deadline = time.monotonic() + 30
            while not (work / "gated.started").exists():  # gated waits on a worker
                assert time.monotonic() < deadline, "gated never started"
                time.sleep(0.02)
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130, err
    resume = err.splitlines()[-1].strip()
    assert resume == shlex.join(["dagwright", "run", flow, "--dask", cluster, "--dask-timeout",
                                 "20", "--resume", "ctrl-c", "--store", store])  # fmt: skip

    (work / "open").touch()
    resumed = run_script(*shlex.split(resume)[1:])
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines()[0].startswith("[2/2] gated completed")
    assert calls(work, "prepare") == 1  # journaled before Ctrl-C: never called again
    assert calls(work, "gated") == 2  # the interrupted call and the resumed one

    code, out, err = cli("run", flow, "--input", inputs, "--store", str(tmp_path / "plain.sqlite"),
                         "--json")  # fmt: skip
    assert code == 0, err
    assert resumed.stdout.splitlines()[-1].endswith(f"digest {json.loads(out)['digest']}")


def closed_port() -> int:
    """A local TCP port nothing listens on (bound once, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.usefixtures("at_root")
def test_an_unreachable_scheduler_is_one_coded_line(cli: Cli, tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{closed_port()}"
    code, out, err = cli("run", *PIPELINE, "--input", QUESTION, "--store",
                         str(tmp_path / "runs.sqlite"), "--dask", address,
                         "--dask-timeout", "1")  # fmt: skip
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith(
        f"dagwright: error: [DW-E108] cannot connect to the Dask scheduler at {address}: "
    )
    assert lines[1] == (
        "  hint: check the address and that the scheduler is running (`dask scheduler`); "
        "wait longer with --dask-timeout SECONDS"
    )


def test_without_the_dask_extra_dask_is_one_line_naming_the_extra(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    store = tmp_path / "runs.sqlite"
    code, out, err = cli("run", *PIPELINE, "--input", QUESTION, "--store", str(store),
                         "--dask", "tcp://scheduler:8786")  # fmt: skip
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "dagwright: error: [DW-E021] --dask needs dask.distributed, which is not installed",
        "  hint: pip install 'dagwright[dask]'",
    ]
    assert not store.exists()  # refused before anything was opened


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--dask", "foo://scheduler:8786"), "is not a Dask scheduler address: unknown address "
         "scheme 'foo'"),
        (("--dask", "scheduler"), "is not a Dask scheduler address: missing port number"),
        (("--dask", "tcp://scheduler:8786", "--dask-timeout", "0"), "--dask-timeout must be a "
         "positive number of seconds, got 0"),
        (("--dask-timeout", "5"), "--dask-timeout goes with --dask"),
    ],
)  # fmt: skip
def test_unusable_dask_options_are_usage_errors(
    cli: Cli, tmp_path: Path, options: tuple[str, ...], message: str
) -> None:
    code, out, err = cli("run", *PIPELINE, "--input", QUESTION, "--store",
                         str(tmp_path / "runs.sqlite"), *options)  # fmt: skip
    assert (code, out) == (2, "")
    assert message in err.splitlines()[-1]
    assert "Traceback" not in err
