"""Run leases: owners, when a lease is gone, the heartbeat, and the lease protocol that
every checkpointer keeps (in memory and in SQLite alike)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dagwright.checkpoint import (
    Checkpointer,
    InMemoryCheckpointer,
    Lease,
    Owner,
    RunHeader,
    RunList,
    SQLiteCheckpointer,
)
from dagwright.checkpoint import lease as leases
from dagwright.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    RunExistsError,
    RunLockedError,
)

NOW = 1_000_000.0
OTHER_HOST = "elsewhere#000000000000"
HERE = Owner.new().host


def header(run_id: str = "r1", at: float = NOW, flow_name: str = "flow") -> RunHeader:
    return RunHeader(run_id, flow_name, "1", "digest", {"x": 1}, "running", at, at)


def stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rpartition(")")[2].split()
    except OSError:
        return None


# ---- owners -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "owner",
    [Owner.new(), Owner("t0k3n", OTHER_HOST, 4242, None)],
    ids=["this-process", "no-start-time"],
)
def test_an_owner_survives_a_json_round_trip(owner: Owner) -> None:
    assert Owner.from_json(owner.to_json()) == owner


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"token": "t"}', '{"token": "t", '])
def test_a_malformed_owner_text_is_refused(text: str) -> None:
    with pytest.raises((ValueError, KeyError)):
        Owner.from_json(text)


def test_an_owner_describes_its_process_and_host() -> None:
    owner = Owner("abc", "box#123456789012", 77, None)
    assert owner.describe() == "pid 77 on box (lease abc)"


# ---- when a lease is gone -----------------------------------------------------------


def test_an_expired_lease_is_gone_whoever_holds_it(live: Callable[[], Owner]) -> None:
    for owner in (live(), Owner("t", OTHER_HOST, 1, None)):
        assert leases.is_gone(Lease(owner, NOW), NOW)
        assert not leases.is_gone(Lease(owner, NOW + 1), NOW)


def test_an_owner_in_this_process_holds_until_it_drops_the_run() -> None:
    owner = Owner.new()
    lease = Lease(owner, time.time() + 60)
    assert leases.is_gone(lease, time.time())  # never held
    leases.hold(owner)
    try:
        assert not leases.is_gone(lease, time.time())
    finally:
        leases.drop(owner)
    assert leases.is_gone(lease, time.time())


def test_a_dead_process_on_this_host_is_gone_before_expiry() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    owner = Owner("t", HERE, child.pid, None)
    assert leases.is_gone(Lease(owner, time.time() + 60), time.time())


def test_a_zombie_process_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 20
        while (stat_fields(child.pid) or ["?"])[0] != "Z":
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.01)
        owner = Owner("t", HERE, child.pid, None)
        assert leases.is_gone(Lease(owner, time.time() + 60), time.time())
    finally:
        child.wait(timeout=30)


def test_a_live_pid_with_another_start_time_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        fields = stat_fields(child.pid)
        assert fields is not None
        started = int(fields[19])
        expires = time.time() + 60
        assert not leases.is_gone(Lease(Owner("t", HERE, child.pid, started), expires), NOW)
        reused = Owner("t", HERE, child.pid, started + 1)
        assert leases.is_gone(Lease(reused, expires), time.time())
    finally:
        child.kill()
        child.wait(timeout=30)


def test_another_hosts_owner_is_never_gone_before_expiry() -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=30)
    owner = Owner("t", OTHER_HOST, dead.pid, None)  # that pid means nothing here
    assert not leases.is_gone(Lease(owner, NOW + 0.001), NOW)
    assert leases.is_gone(Lease(owner, NOW), NOW)


def test_lease_fields_describe_a_lease_as_plain_data() -> None:
    owner = Owner("abc", "box#123456789012", 77, None)
    assert leases.lease_fields(None) is None
    assert leases.lease_fields(Lease(owner, NOW)) == {
        "owner": "pid 77 on box (lease abc)",
        "host": "box#123456789012",
        "pid": 77,
        "expires_at": NOW,
    }


# ---- the heartbeat --------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], what: str, limit_s: float = 20.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_heartbeat_renews_a_lease_before_it_expires(
    kind: str, tmp_path: Path, live: Callable[[], Owner]
) -> None:
    store: Checkpointer = (
        InMemoryCheckpointer(lease_s=0.3)
        if kind == "memory"
        else SQLiteCheckpointer(tmp_path / "hb.sqlite", synchronous="NORMAL", lease_s=0.3)
    )
    owner = live()
    store.begin(header(at=time.time()), owner)
    first = store.lease("r1")
    assert first is not None
    seen = [first.expires_at]

    def moved(times: int) -> bool:
        held = store.lease("r1")
        assert held is not None and held.owner == owner
        if held.expires_at > seen[-1]:
            seen.append(held.expires_at)
        return len(seen) > times

    beat = leases.Heartbeat()
    beat.add(owner.token, lambda now: store.renew("r1", owner, now), store.lease_s)
    try:
        wait_until(lambda: moved(2), "two renewals")
    finally:
        beat.stop()
        store.close()
    assert seen == sorted(seen)


def test_the_heartbeat_stops_renewing_a_removed_lease_and_survives_faults() -> None:
    calls = {"kept": 0, "removed": 0, "failing": 0}

    def renew(name: str) -> Callable[[float], bool]:
        def call(now: float) -> bool:
            calls[name] += 1
            if name == "failing":
                raise CheckpointError("the store is down")
            return True

        return call

    beat = leases.Heartbeat()
    try:
        for name in calls:
            beat.add(name, renew(name), 0.06)
        wait_until(lambda: calls["removed"] >= 1 and calls["failing"] >= 2, "first beats")
        beat.remove("removed")
        # Two more beats of the kept lease: at least one loop pass began after the removal.
        mark = calls["kept"]
        wait_until(lambda: calls["kept"] >= mark + 2, "beats after the removal")
        removed = calls["removed"]
        mark = calls["kept"]
        wait_until(lambda: calls["kept"] >= mark + 2, "more beats")
        assert calls["removed"] == removed
    finally:
        beat.stop()
    stopped = dict(calls)
    time.sleep(0.2)  # the thread was joined: nothing more happens
    assert calls == stopped


# ---- the lease protocol of every checkpointer ---------------------------------------


@dataclass
class Store:
    """A store under test: ``open()`` gives another checkpointer on it (the in-memory
    store has only one), ``path`` is what its errors name."""

    open: Callable[[], Checkpointer]
    path: str | None


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        shared = InMemoryCheckpointer()
        yield Store(lambda: shared, None)
        return
    path = tmp_path / "runs.sqlite"
    opened: list[SQLiteCheckpointer] = []

    def open_one() -> Checkpointer:
        checkpointer = SQLiteCheckpointer(path, synchronous="NORMAL", busy_timeout_s=10.0)
        opened.append(checkpointer)
        return checkpointer

    yield Store(open_one, str(path))
    for checkpointer in opened:
        checkpointer.close()


def test_begin_leases_a_new_run_to_its_owner(store: Store, live: Callable[[], Owner]) -> None:
    cp, owner = store.open(), live()
    cp.begin(header(), owner)
    assert cp.lease("r1") == Lease(owner, NOW + cp.lease_s)
    assert cp.load("r1") == (header(), [])
    assert cp.header("r1") == header()


def test_begin_refuses_a_run_id_that_exists(store: Store, live: Callable[[], Owner]) -> None:
    cp, first = store.open(), live()
    cp.begin(header(), first)
    with pytest.raises(RunExistsError) as caught:
        store.open().begin(header(at=NOW + 5), live())
    error = caught.value
    assert isinstance(error, ValueError) and isinstance(error, CheckpointError)
    assert error.code == "DW-E013"
    assert (error.run_id, error.path) == ("r1", store.path)
    assert "already has a checkpoint" in str(error) and "resume" in str(error)
    lease = cp.lease("r1")
    assert lease is not None and lease.owner == first
    assert cp.header("r1") == header()


def test_acquire_refuses_a_live_owner_and_changes_nothing(
    store: Store, live: Callable[[], Owner]
) -> None:
    cp, holder = store.open(), live()
    cp.begin(header(), holder)
    with pytest.raises(RunLockedError) as caught:
        store.open().acquire("r1", live(), NOW + 1)
    error = caught.value
    assert error.code == "DW-E012"
    assert (error.run_id, error.path, error.owner) == ("r1", store.path, holder.describe())
    assert "'r1'" in str(error) and f"pid {holder.pid}" in str(error)
    assert cp.lease("r1") == Lease(holder, NOW + cp.lease_s)
    assert cp.header("r1").updated_at == NOW


def test_acquire_takes_over_a_gone_owner(store: Store, live: Callable[[], Owner]) -> None:
    cp = store.open()
    cp.begin(header(), Owner.new())  # an owner of this process that does not hold it
    taker = live()
    resumed = store.open().acquire("r1", taker, NOW + 1)
    assert resumed == header().with_status("running", NOW + 1)
    assert cp.lease("r1") == Lease(taker, NOW + 1 + cp.lease_s)
    # an expired lease of a live owner elsewhere is taken over too
    cp.begin(header("r2"), Owner("t", OTHER_HOST, 1, None))
    with pytest.raises(RunLockedError):
        cp.acquire("r2", taker, NOW + cp.lease_s - 1)
    cp.acquire("r2", taker, NOW + cp.lease_s)


def test_the_same_owner_may_acquire_again(store: Store, live: Callable[[], Owner]) -> None:
    cp, owner = store.open(), live()
    cp.begin(header(), owner)
    cp.acquire("r1", owner, NOW + 3)
    assert cp.lease("r1") == Lease(owner, NOW + 3 + cp.lease_s)


def test_a_finished_run_is_free_to_acquire(store: Store, live: Callable[[], Owner]) -> None:
    cp, owner = store.open(), live()
    cp.begin(header(), owner)
    cp.append("r1", [{"kind": "step", "n": 1}], owner)
    cp.finish("r1", "failed", NOW + 2, owner)
    assert cp.lease("r1") is None
    assert cp.header("r1") == header().with_status("failed", NOW + 2)
    other = live()
    assert store.open().acquire("r1", other, NOW + 3).status == "running"
    assert cp.header("r1").status == "running"


def test_renew_extends_only_the_holders_lease(store: Store, live: Callable[[], Owner]) -> None:
    cp, owner = store.open(), live()
    cp.begin(header(), owner)
    assert cp.renew("r1", owner, NOW + 10)
    assert cp.lease("r1") == Lease(owner, NOW + 10 + cp.lease_s)
    assert not store.open().renew("r1", live(), NOW + 20)
    assert not cp.renew("unknown", owner, NOW + 20)
    assert cp.lease("r1") == Lease(owner, NOW + 10 + cp.lease_s)


def test_an_owner_that_lost_its_lease_is_fenced_off(
    store: Store, live: Callable[[], Owner]
) -> None:
    first, second = store.open(), store.open()
    old, new = live(), live()
    first.begin(header(), old)
    first.append("r1", [{"kind": "step", "n": 0}], old)
    second.acquire("r1", new, NOW + first.lease_s)  # the old lease expired
    writes: tuple[Callable[[], None], ...] = (
        lambda: first.append("r1", [{"kind": "step", "n": 99}], old),
        lambda: first.finish("r1", "succeeded", NOW + 100, old),
    )
    for write in writes:
        with pytest.raises(RunLockedError) as caught:
            write()
        error = caught.value
        assert (error.run_id, error.path, error.owner) == ("r1", store.path, new.describe())
        assert "no longer leased" in str(error)
    assert not first.renew("r1", old, NOW + 100)
    second.append("r1", [{"kind": "step", "n": 1}], new)
    second.finish("r1", "succeeded", NOW + 50, new)
    loaded_header, journal = first.load("r1")
    assert journal == [{"kind": "step", "n": 0}, {"kind": "step", "n": 1}]
    assert loaded_header == header().with_status("succeeded", NOW + 50)
    with pytest.raises(RunLockedError) as caught:  # finished: nobody holds it
        second.append("r1", [{"kind": "step"}], new)
    assert caught.value.owner is None


def test_of_two_racing_acquirers_exactly_one_wins(store: Store, live: Callable[[], Owner]) -> None:
    setup = store.open()
    setup.begin(header(), Owner.new())  # gone: free to take
    stores, owners = [store.open(), store.open()], [live(), live()]
    barrier = threading.Barrier(2, timeout=20)
    outcomes: list[str] = []

    def race(index: int) -> None:
        barrier.wait()
        try:
            stores[index].acquire("r1", owners[index], NOW + 1)
            outcomes.append(f"won {index}")
        except RunLockedError:
            outcomes.append("locked")

    threads = [threading.Thread(target=race, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(o.split()[0] for o in outcomes) == ["locked", "won"]
    winner = owners[int(next(o for o in outcomes if o != "locked").split()[1])]
    lease = setup.lease("r1")
    assert lease is not None and lease.owner == winner


def test_an_unknown_run_is_not_found(store: Store, live: Callable[[], Owner]) -> None:
    cp, owner = store.open(), live()
    calls: tuple[Callable[[], object], ...] = (
        lambda: cp.acquire("nope", owner, NOW),
        lambda: cp.append("nope", [{"kind": "step"}], owner),
        lambda: cp.finish("nope", "failed", NOW, owner),
        lambda: cp.load("nope"),
        lambda: cp.header("nope"),
    )
    for call in calls:
        with pytest.raises(CheckpointNotFoundError, match="'nope'"):
            call()
    assert cp.lease("nope") is None
    with pytest.raises(CheckpointNotFoundError, match="'nope'"):
        cp.delete("nope")


def test_delete_forgets_the_run_and_its_lease(store: Store, live: Callable[[], Owner]) -> None:
    cp, owner = store.open(), live()
    cp.begin(header(), owner)
    cp.append("r1", [{"kind": "step"}], owner)
    cp.delete("r1")
    assert cp.lease("r1") is None
    with pytest.raises(CheckpointNotFoundError):
        cp.load("r1")
    cp.begin(header(), owner)  # the id is free again, with an empty journal
    assert cp.load("r1") == (header(), [])


def test_delete_refuses_a_run_a_live_owner_holds(store: Store, live: Callable[[], Owner]) -> None:
    cp, holder = store.open(), live()
    now = time.time()
    cp.begin(header(at=now), holder)
    cp.append("r1", [{"kind": "step"}], holder)
    with pytest.raises(RunLockedError) as caught:
        store.open().delete("r1")
    error = caught.value
    assert error.code == "DW-E012"
    assert (error.run_id, error.path, error.owner) == ("r1", store.path, holder.describe())
    assert cp.load("r1") == (header(at=now), [{"kind": "step"}])
    assert cp.lease("r1") == Lease(holder, now + cp.lease_s)


def test_delete_takes_a_run_whose_owner_is_gone(store: Store) -> None:
    cp = store.open()
    cp.begin(header(at=time.time()), Owner.new())  # an owner of this process that let go
    cp.delete("r1")
    with pytest.raises(CheckpointNotFoundError):
        cp.header("r1")
    elsewhere = Owner("t", OTHER_HOST, 1, None)
    cp.begin(header(), elsewhere)  # another host's lease, expired long ago
    store.open().delete("r1")
    assert cp.lease("r1") is None
    cp.begin(header(at=time.time()), elsewhere)  # the same, unexpired: it may still run
    with pytest.raises(RunLockedError):
        cp.delete("r1")


def test_runs_lists_headers_oldest_first_by_flow(store: Store, live: Callable[[], Owner]) -> None:
    cp, owner = store.open(), live()
    cp.begin(header("b", NOW + 1, "one"), owner)
    cp.begin(header("a", NOW + 1, "two"), owner)
    cp.begin(header("c", NOW, "one"), owner)
    listed = store.open().runs()
    assert isinstance(listed, RunList) and listed.unreadable == ()
    assert [h.run_id for h in listed] == ["c", "a", "b"]
    assert [h.run_id for h in cp.runs("one")] == ["c", "b"]
    assert cp.runs("none") == []


def test_lease_time_must_be_positive() -> None:
    for bad in (0, -1.0, True, "30"):
        with pytest.raises(ValueError, match="lease_s"):
            InMemoryCheckpointer(lease_s=bad)  # type: ignore[arg-type]


def test_os_getpid_owner_is_this_process() -> None:
    owner = Owner.new()
    assert owner.pid == os.getpid() and owner.host == HERE and len(owner.token) == 16


def test_a_forked_child_is_its_own_owner() -> None:
    """The process identity is read once per process: a fork reads its own."""
    parent = Owner.new()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its owner's pid and start time, then leave at once
        child = Owner.new()
        os.write(writer, f"{child.pid} {child.pid_started}".encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        child_pid, child_started = pipe.read().split()
    os.waitpid(pid, 0)
    assert int(child_pid) == pid != parent.pid
    assert child_started != "None" and parent.pid_started is not None
    assert int(child_started) >= parent.pid_started
