"""The floor: every ``compare.py`` workload done by hand with pydantic and nothing else.

DESIGN.md section 7: per step, ``model_validate`` of the step's input, the call,
``model_dump(mode="json")`` of its output, a dict merge into the run's context. Where a
workload needs more than steps, the floor does the least that work takes by hand:

* concurrency (the skewed DAG): a ``ThreadPoolExecutor`` started once (sync tools) or
  ``asyncio`` tasks on the caller's loop (async tools), each step submitted as soon as
  its inputs exist;
* checkpoints: one journal record per step (its JSON-mode outputs) appended to a list in
  memory, or written to SQLite (WAL, ``synchronous=NORMAL``) in one transaction per
  step, after a header row per run;
* the step cache: the key is the sha256 of the canonical JSON of tool name and validated
  input; a hit copies the stored outputs out of a dict;
* Dask: ``client.map`` of the validated call over the items, then ``client.gather``;
* CPU-bound items: the validated ``crunch`` call over the items on a
  ``ThreadPoolExecutor`` started once (the GIL runs them one at a time), or through
  ``client.map`` and ``client.gather`` on the same cluster as dagwright's.

Every function returns the run's final context (or results), which is what each
library's answer is checked against.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel


class NIn(BaseModel):
    """The input of ``inc``."""

    n: int


class NOut(BaseModel):
    """The output of ``inc``."""

    n: int


def inc(n: int) -> NOut:
    """Add one."""
    return NOut(n=n + 1)


def step(n: int) -> dict[str, Any]:
    """One validated step of ``inc``: validate, call, dump."""
    return inc(NIn.model_validate({"n": n}).n).model_dump(mode="json")


def linear(steps: int) -> dict[str, Any]:
    """``steps`` validated steps, each reading ``n`` and writing ``n + 1`` back."""
    context: dict[str, Any] = {"n": 0}
    for _ in range(steps):
        context.update(step(context["n"]))
    return context


def fan_dag(leaves: int) -> dict[str, Any]:
    """``root`` (``seed`` -> ``n``), ``leaves`` leaves (``n`` -> ``k<i>``), ``join`` (``k0`` ->
    ``total``), in one thread: concurrency cannot speed up GIL-bound trivial calls."""
    context: dict[str, Any] = {"seed": 0}
    context.update(n=step(context["seed"])["n"])
    for i in range(leaves):
        context.update({f"k{i}": step(context["n"])["n"]})
    context.update(total=step(context["k0"])["n"])
    return context


# ---- the skewed DAG ---------------------------------------------------------------------


class NapIn(BaseModel):
    """The input of the sleeping tools."""

    seconds: float


class NapOut(BaseModel):
    """The output of the sleeping tools."""

    slept: float


class JoinIn(BaseModel):
    """The input of ``join``."""

    a: float
    c: float


class JoinOut(BaseModel):
    """The output of ``join``."""

    total: float


def nap(seconds: float) -> dict[str, Any]:
    """A validated blocking sleep."""
    args = NapIn.model_validate({"seconds": seconds})
    time.sleep(args.seconds)
    return NapOut(slept=args.seconds).model_dump(mode="json")


async def anap(seconds: float) -> dict[str, Any]:
    """A validated ``asyncio.sleep``."""
    args = NapIn.model_validate({"seconds": seconds})
    await asyncio.sleep(args.seconds)
    return NapOut(slept=args.seconds).model_dump(mode="json")


def join(a: float, c: float) -> dict[str, Any]:
    """A validated sum."""
    args = JoinIn.model_validate({"a": a, "c": c})
    return JoinOut(total=args.a + args.c).model_dump(mode="json")


def skewed_threads(pool: ThreadPoolExecutor, inputs: dict[str, Any]) -> dict[str, Any]:
    """``A`` and ``B`` at once, ``C`` as soon as ``B`` is done, ``D`` after ``A`` and ``C``."""
    context = dict(inputs)
    a = pool.submit(nap, context["long"])
    b = pool.submit(nap, context["short"])
    context.update(b=b.result()["slept"])
    c = pool.submit(nap, context["long"])
    context.update(a=a.result()["slept"])
    context.update(c=c.result()["slept"])
    context.update(join(context["a"], context["c"]))
    return context


async def skewed_tasks(inputs: dict[str, Any]) -> dict[str, Any]:
    """The skewed DAG with ``asyncio`` tasks: ``C`` starts when ``B`` ends."""
    context = dict(inputs)
    a = asyncio.ensure_future(anap(context["long"]))
    b = asyncio.ensure_future(anap(context["short"]))
    context.update(b=(await b)["slept"])
    c = asyncio.ensure_future(anap(context["long"]))
    context.update(a=(await a)["slept"])
    context.update(c=(await c)["slept"])
    context.update(join(context["a"], context["c"]))
    return context


# ---- checkpoints ------------------------------------------------------------------------


def _record(run_id: str, index: int, outputs: dict[str, Any]) -> str:
    return json.dumps({"run": run_id, "step": index, "outputs": outputs}, separators=(",", ":"))


def journaled_in_memory(journal: list[dict[str, Any]], steps: int) -> dict[str, Any]:
    """``linear(steps)``, appending one JSON-mode record per step to ``journal``."""
    run_id = uuid.uuid4().hex
    context: dict[str, Any] = {"n": 0}
    journal.append({"run": run_id, "header": {"inputs": dict(context)}})
    for index in range(steps):
        outputs = step(context["n"])
        journal.append({"run": run_id, "step": index, "outputs": outputs})
        context.update(outputs)
    return context


def open_journal(path: Path) -> sqlite3.Connection:
    """A SQLite journal file in WAL mode with ``synchronous=NORMAL``."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE runs (run TEXT PRIMARY KEY, header TEXT)")
    conn.execute("CREATE TABLE entries (run TEXT, seq INTEGER, body TEXT, PRIMARY KEY (run, seq))")
    return conn


def journaled_in_sqlite(conn: sqlite3.Connection, steps: int) -> dict[str, Any]:
    """``linear(steps)``, each step's record committed in its own transaction."""
    run_id = uuid.uuid4().hex
    context: dict[str, Any] = {"n": 0}
    conn.execute("INSERT INTO runs VALUES (?, ?)", (run_id, json.dumps(context)))
    for index in range(steps):
        outputs = step(context["n"])
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO entries VALUES (?, ?, ?)", (run_id, index, _record(run_id, index, outputs))
        )
        conn.execute("COMMIT")
        context.update(outputs)
    return context


# ---- the step cache ---------------------------------------------------------------------


class ValueIn(BaseModel):
    """The input of ``work20``."""

    value: int


class ValueOut(BaseModel):
    """The output of ``work20``."""

    value: int


def work20(value: int, spin_s: float) -> ValueOut:
    """Spin for ``spin_s`` seconds, then add one."""
    deadline = time.perf_counter() + spin_s
    while time.perf_counter() < deadline:
        pass
    return ValueOut(value=value + 1)


def cache_chain(
    steps: int, spin_s: float, cache: dict[str, dict[str, Any]] | None
) -> Callable[[], dict[str, Any]]:
    """A run of ``steps`` ``work20`` steps; with ``cache``, each call is looked up first."""

    def call(value: int) -> dict[str, Any]:
        args = ValueIn.model_validate({"value": value})
        if cache is None:
            return work20(args.value, spin_s).model_dump(mode="json")
        text = json.dumps(
            {"tool": "work20", "input": args.model_dump(mode="json")},
            sort_keys=True,
            separators=(",", ":"),
        )
        key = hashlib.sha256(text.encode()).hexdigest()
        hit = cache.get(key)
        if hit is not None:
            return dict(hit)
        outputs = work20(args.value, spin_s).model_dump(mode="json")
        cache[key] = dict(outputs)
        return outputs

    def run() -> dict[str, Any]:
        context: dict[str, Any] = {"value": 0}
        for _ in range(steps):
            context.update(call(context["value"]))
        return context

    return run


# ---- Dask -------------------------------------------------------------------------------


class EchoIn(BaseModel):
    """The input of ``echo``."""

    x: int


class EchoOut(BaseModel):
    """The output of ``echo``."""

    value: int


def echo_item(x: int) -> dict[str, Any]:
    """One validated ``echo`` call, as a Dask task."""
    return EchoOut(value=EchoIn.model_validate({"x": x}).x).model_dump(mode="json")


def dask_map(
    client: Any, items: list[int], call: Callable[[int], dict[str, Any]] = echo_item
) -> list[dict[str, Any]]:
    """``client.map`` of ``call`` (``echo_item`` by default) over ``items`` and
    ``client.gather``: Dask itself, one task per item, in one batch."""
    futures = client.map(call, items, pure=False)
    results: list[dict[str, Any]] = client.gather(futures)
    return results


class CrunchIn(BaseModel):
    """The input of ``crunch``."""

    rounds: int


class CrunchOut(BaseModel):
    """The output of ``crunch``."""

    value: int


def crunch_item(rounds: int) -> dict[str, Any]:
    """One validated ``crunch`` call: the recurrence of ``_workloads.crunch_numbers``."""
    args = CrunchIn.model_validate({"rounds": rounds})
    acc = 0
    for i in range(args.rounds):
        acc = (acc * 31 + i) % 1_000_003
    return CrunchOut(value=acc).model_dump(mode="json")


def threads_map(pool: ThreadPoolExecutor, items: list[int]) -> list[dict[str, Any]]:
    """``crunch_item`` over ``items`` on ``pool``, results in item order."""
    return list(pool.map(crunch_item, items))
