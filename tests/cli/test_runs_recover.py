"""``dagwright runs recover`` and ``runs list --status``, in process and through the
console script.

In process, a run "dies" through the store wrapper of ``tests/test_recover.py`` (its
owner, in this process, no longer holds its lease: gone); through the console script,
``examples/crash.flow.yaml`` really ends its process once. Runs killed by SIGKILL until
they are ``dead`` are in ``tests/test_recover_processes.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from dagwright import FlowExecutor, SQLiteCheckpointer
from dagwright.checkpoint import read_run
from dagwright.io import load_flow
from tests.cli import recover_tools
from tests.cli.conftest import ROOT, Cli, run_script, script
from tests.cli.flows import write
from tests.cli.test_interrupt import LAUNCH
from tests.test_recover import Crash, DiesAfter

TOOLS = [recover_tools.double, recover_tools.square, recover_tools.add, recover_tools.refuse]


def crash(store: Path, flow_file: str, run_id: str, n: int, after: int = 1) -> None:
    """A run of the flow file on ``n`` that dies right after its ``after``-th write."""
    checkpointer = SQLiteCheckpointer(store)
    try:
        with (
            FlowExecutor(TOOLS, checkpointer=DiesAfter(checkpointer, after)) as ex,  # type: ignore[arg-type]
            pytest.raises(Crash),
        ):
            ex.run(load_flow(flow_file), {"n": n}, run_id=run_id)
    finally:
        checkpointer.close()


def finish(store: Path, flow_file: str, run_id: str, n: int) -> str:
    checkpointer = SQLiteCheckpointer(store)
    try:
        with FlowExecutor(TOOLS, checkpointer=checkpointer) as ex:
            result = ex.run(load_flow(flow_file), {"n": n}, run_id=run_id)
    finally:
        checkpointer.close()
    assert result.success
    return result.digest


@pytest.fixture
def sums(tmp_path: Path) -> str:
    return write(tmp_path, "sums.flow.yaml", recover_tools.SUMS)


def test_recover_resumes_each_run_and_prints_a_line_for_it(
    cli: Cli, tmp_path: Path, sums: str
) -> None:
    store = tmp_path / "runs.sqlite"
    digest = finish(store, sums, "done", 3)
    crash(store, sums, "c1", 3)
    crash(store, sums, "c2", 4, after=2)

    code, out, err = cli("runs", "recover", sums, "--store", str(store))

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["run", "id", "flow", "version", "outcome", "detail"]
    assert [line.split()[:4] for line in lines[1:3]] == [
        ["c1", "sums", "1", "succeeded"],
        ["c2", "sums", "1", "succeeded"],
    ]
    assert lines[1].endswith(f"digest {digest}")  # the digest of an uninterrupted run
    assert lines[3] == (
        f"2 run(s) to recover in {store}: 2 succeeded, 0 failed, 0 dead, 0 skipped, 0 error(s)"
    )
    assert len(lines) == 4
    checkpointer = SQLiteCheckpointer(store, create=False)
    try:
        for run_id in ("c1", "c2"):
            stored = read_run(checkpointer, run_id)
            assert stored.header.status == "succeeded"
            assert stored.recoveries == 1
        assert read_run(checkpointer, "done").recoveries == 0
    finally:
        checkpointer.close()

    code, out, _ = cli("runs", "recover", sums, "--store", str(store))
    assert (code, out) == (0, f"no runs to recover in {store}\n")


def test_recover_as_json_prints_the_report(cli: Cli, tmp_path: Path, sums: str) -> None:
    store = tmp_path / "runs.sqlite"
    crash(store, sums, "c1", 5)
    code, out, _ = cli("runs", "recover", sums, "--store", str(store), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["ok"] is True
    assert data["runs"] == [
        {"run_id": "c1", "flow_name": "sums", "flow_version": "1", "outcome": "succeeded",
         "code": None, "message": None}
    ]  # fmt: skip
    assert [r["output"]["total"] for r in data["results"]] == [2 * 5 + 5 * 5]
    assert (data["dead"], data["skipped"], data["errors"]) == ([], [], [])

    code, out, _ = cli("runs", "recover", "--store", str(store), "--json")
    assert code == 0
    assert json.loads(out) == {
        "ok": True, "runs": [], "results": [], "dead": [], "skipped": [], "errors": []
    }  # fmt: skip


def test_a_run_whose_flow_file_is_not_given_is_an_error_line_and_exit_1(
    cli: Cli, tmp_path: Path, sums: str
) -> None:
    store = tmp_path / "runs.sqlite"
    crash(store, sums, "c1", 3)
    code, out, _ = cli("runs", "recover", "--store", str(store))
    assert code == 1
    lines = out.splitlines()
    assert lines[1].split()[:4] == ["c1", "sums", "1", "DW-E003"]
    assert "sums" in lines[1].split("DW-E003", 1)[1]
    assert lines[2].endswith("0 succeeded, 0 failed, 0 dead, 0 skipped, 1 error(s)")
    assert lines[3] == (
        "  hint: give the flow files of those runs (and of their sub-flows): "
        f"`dagwright runs recover FILE... --store {store}`"
    )
    code, out, _ = cli("runs", "recover", "--store", str(store), "--json")
    assert code == 1
    assert json.loads(out)["errors"][0]["code"] == "DW-E003"
    # Nothing of the run was touched: given its flow, it recovers.
    code, out, _ = cli("runs", "recover", sums, "--store", str(store))
    assert code == 0
    assert "c1" in out and "succeeded" in out


def test_a_resumed_run_that_fails_is_a_failed_line_and_exit_1(cli: Cli, tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    failing = write(tmp_path, "failing.flow.yaml", recover_tools.FAILING)
    crash(store, failing, "f1", 2)
    code, out, _ = cli("runs", "recover", failing, "--store", str(store))
    assert code == 1
    lines = out.splitlines()
    assert lines[1].split()[:5] == ["f1", "failing", "1", "failed", "[DW-E101]"]
    assert lines[1].endswith("cannot publish 8 at step 'publish'")
    assert lines[2].endswith("0 succeeded, 1 failed, 0 dead, 0 skipped, 0 error(s)")
    code, out, _ = cli("runs", "recover", failing, "--store", str(store))
    assert (code, out) == (0, f"no runs to recover in {store}\n")  # failed is finished


def test_a_dead_run_is_listed_by_status_and_never_recovered_again(
    cli: Cli, tmp_path: Path, sums: str
) -> None:
    store = tmp_path / "runs.sqlite"
    finish(store, sums, "done", 1)
    crash(store, sums, "c1", 3)
    # A recovery that dies too (in this process: the wrapper again).
    checkpointer = SQLiteCheckpointer(store)
    registry_flow = load_flow(sums)
    try:
        with (
            FlowExecutor(TOOLS, checkpointer=DiesAfter(checkpointer, 1)) as ex,  # type: ignore[arg-type]
            pytest.raises(Crash),
        ):
            ex.registry.register(registry_flow)
            ex.recover(max_attempts=1)
    finally:
        checkpointer.close()

    code, out, _ = cli("runs", "recover", sums, "--store", str(store), "--max-attempts", "1")
    assert code == 1
    lines = out.splitlines()
    assert lines[1].split()[:4] == ["c1", "sums", "1", "dead"]
    assert "--max-attempts 1" in lines[1]
    assert lines[2].endswith("0 succeeded, 0 failed, 1 dead, 0 skipped, 0 error(s)")

    code, out, _ = cli("runs", "list", "--status", "dead", "--store", str(store))
    assert code == 0
    assert [line.split()[:4] for line in out.splitlines()[1:]] == [["c1", "sums", "1", "dead"]]
    code, out, _ = cli("runs", "list", "--status", "dead", "--store", str(store), "--json")
    assert [run["run_id"] for run in json.loads(out)["runs"]] == ["c1"]
    code, out, _ = cli("runs", "list", "--status", "succeeded", "--store", str(store))
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["done"]
    code, out, _ = cli("runs", "list", "--status", "interrupted", "--store", str(store))
    assert (code, out) == (0, f"no interrupted runs in {store}\n")

    code, out, _ = cli("runs", "recover", sums, "--store", str(store), "--max-attempts", "5")
    assert (code, out) == (0, f"no runs to recover in {store}\n")


def test_a_missing_store_is_exit_2_and_nothing_is_created(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope.sqlite"
    code, out, err = cli("runs", "recover", "--store", str(missing))
    assert (code, out) == (2, "")
    assert err.startswith(f"dagwright: error: [DW-E011] no checkpoint store at {missing}")
    assert not missing.exists()
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("runs", "recover")
    assert code == 2
    assert "DW-E011" in err
    assert not (tmp_path / ".dagwright").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--max-attempts", "0"], "--max-attempts must be at least 1, got 0"),
        (["--max-workers", "0"], "--max-workers must be at least 1, got 0"),
        (["--max-workers", "x"], "invalid int value: 'x'"),
    ],
)
def test_usage_errors_exit_2(cli: Cli, tmp_path: Path, argv: list[str], message: str) -> None:
    store = tmp_path / "runs.sqlite"
    code, out, err = cli("runs", "recover", "--store", str(store), *argv)
    assert (code, out) == (2, "")
    assert err.startswith("usage: dagwright runs recover")
    assert message in err
    assert not store.exists()


def test_list_refuses_an_unknown_status(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("runs", "list", "--status", "lost", "--store", str(tmp_path / "s"))
    assert code == 2
    assert "invalid choice: 'lost'" in err
    assert "'dead'" in err


def test_a_bad_flow_file_is_exit_2(cli: Cli, tmp_path: Path, sums: str) -> None:
    store = tmp_path / "runs.sqlite"
    finish(store, sums, "done", 1)
    bad = write(tmp_path, "bad.flow.yaml", "format_version: 1\nkind: dag\nname: [\n")
    code, out, err = cli("runs", "recover", bad, "--store", str(store))
    assert (code, out) == (2, "")
    assert err.startswith(f"dagwright: error: {bad}:")


# ---- through the console script --------------------------------------------------------


@pytest.mark.timeout(180)
def test_the_console_script_recovers_crashed_processes(tmp_path: Path) -> None:
    store = str(tmp_path / "runs.sqlite")
    inputs = {
        run_id: json.dumps({"text": f" {run_id}  now ", "marker_dir": str(tmp_path / run_id)})
        for run_id in ("boom-1", "boom-2")
    }
    for run_id, given in inputs.items():  # each ends its process with os._exit(1)
        crashed = run_script("run", "examples/crash.flow.yaml", "--run-id", run_id,
                             "--input", given, "--store", store)  # fmt: skip
        assert crashed.returncode == 1, crashed.stderr
    shown = run_script("runs", "list", "--status", "running", "--store", store)
    assert [line.split()[0] for line in shown.stdout.splitlines()[1:]] == ["boom-2", "boom-1"]

    done = run_script("runs", "recover", "examples/crash.flow.yaml", "--store", store, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [(r["run_id"], r["outcome"]) for r in report["runs"]] == [
        ("boom-1", "succeeded"),
        ("boom-2", "succeeded"),
    ]
    assert [r["output"]["report"] for r in report["results"]] == [
        "done: BOOM-1 NOW",
        "done: BOOM-2 NOW",
    ]
    plain = run_script("run", "examples/crash.flow.yaml", "--input", inputs["boom-1"],
                       "--store", str(tmp_path / "other.sqlite"), "--json")  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert report["results"][0]["digest"] == json.loads(plain.stdout)["digest"]

    again = run_script("runs", "recover", "examples/crash.flow.yaml", "--store", store)
    assert (again.returncode, again.stdout) == (0, f"no runs to recover in {store}\n")
    gone = run_script("runs", "recover", "--store", str(tmp_path / "missing.sqlite"))
    assert gone.returncode == 2
    assert "[DW-E011]" in gone.stderr
    assert not (tmp_path / "missing.sqlite").exists()


@pytest.mark.timeout(180)
def test_ctrl_c_stops_the_console_script_and_the_run_stays_recoverable(tmp_path: Path) -> None:
    flow = write(tmp_path, "sums.flow.yaml", recover_tools.SUMS)
    store = str(tmp_path / "runs.sqlite")
    calls, held = tmp_path / "calls.log", tmp_path / "square.held"
    plain = run_script("run", flow, "--input", '{"n": 3}', "--store", store, "--json")
    assert plain.returncode == 0, plain.stderr
    digest = json.loads(plain.stdout)["digest"]

    # A run that stops in `square`: SIGKILLed while the call holds.
    env = {"DAGWRIGHT_TEST_HOLD": str(held), "DAGWRIGHT_TEST_CALLS": str(calls)}
    argv = [script(), "run", flow, "--input", '{"n": 3}', "--store", store, "--run-id", "held",
            "--max-concurrency", "1"]  # fmt: skip
    with subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env},
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as run:  # fmt: skip
        try:
            wait_for(held, run)
            run.kill()
            run.wait(30)
        finally:
            run.kill()
    held.unlink()

    # Its recovery holds in `square` too; Ctrl-C (again, while it waits) stops it.
    argv = [sys.executable, "-c", LAUNCH, script(), "runs", "recover", flow, "--store", store]
    with subprocess.Popen(
        argv,
        cwd=ROOT,
        env={**os.environ, **env},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as recovering:
        try:
            wait_for(held, recovering)
            deadline = time.monotonic() + 60
            while recovering.poll() is None:
                assert time.monotonic() < deadline, "Ctrl-C did not stop runs recover"
                recovering.send_signal(signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    recovering.wait(0.2)
            _, err = recovering.communicate(timeout=30)
        finally:
            recovering.kill()
    assert recovering.returncode == 130, err
    assert "dagwright: interrupted" in err
    assert "Traceback" not in err

    # The next recovery (nothing holds now) finishes it like an uninterrupted run.
    del env["DAGWRIGHT_TEST_HOLD"]
    done = run_script("runs", "recover", flow, "--store", store, "--json", env=env)
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)["results"]
    assert (result["run_id"], result["digest"]) == ("held", digest)
    lines = calls.read_text().splitlines()
    assert lines.count("held:double") == 1  # recorded before the kill: never again
    assert lines.count("held:add") == 1
    assert lines.count("held:square") == 3  # the killed run, the interrupted recovery, the last
    checkpointer = SQLiteCheckpointer(store, create=False)
    try:
        assert read_run(checkpointer, "held").recoveries == 2
    finally:
        checkpointer.close()


def wait_for(path: Path, process: subprocess.Popen[Any]) -> None:
    """Until ``path`` exists (the tool holds), or fail if ``process`` ended first."""
    deadline = time.monotonic() + 60
    while not path.exists():
        assert process.poll() is None, f"the process ended ({process.returncode})"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
