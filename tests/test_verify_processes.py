"""The replay check across processes: a run recorded by one ``dagwright run`` process,
verified by another ``dagwright runs verify`` process (the console script), against a
SQLite store.

The prices tool reads a file the test changes between the two, so its results differ
from one process to the next when the file does; the notify tool is
``idempotent=False`` and appends a line to a ledger on every call, so a call made by the
verifying process would show.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import run_script

TOOLS = '''\
"""Tools of the replay-check process tests."""

import json
from pathlib import Path

from dagwright import current_call, tool

HERE = Path(__file__).parent


@tool
def price(item: str) -> int:
    """Today's price of an item, from prices.json next to this file."""
    return json.loads((HERE / "prices.json").read_text())[item]


@tool
def total(prices: list[dict[str, int]]) -> int:
    """The sum of the prices."""
    return sum(entry["price"] for entry in prices)


@tool(idempotent=False)
def notify(total: int) -> int:
    """Appends the total and the call's idempotency key to ledger.txt."""
    call = current_call()
    assert call is not None
    with (HERE / "ledger.txt").open("a") as ledger:
        ledger.write(f"{total} {call.idempotency_key}\\n")
    return total
'''

FLOW = """\
format_version: 1
kind: flow
name: basket
version: "1"
steps:
  - id: prices
    tool: price
    over: items
    item: item
    results: prices
  - tool: total
  - tool: notify
"""

PRICES = {"apple": 120, "pear": 80, "fig": 250}


def recorded(tmp_path: Path) -> tuple[list[str], Path]:
    """A run recorded by a `dagwright run` process; the verify command's arguments."""
    (tmp_path / "basket_tools.py").write_text(TOOLS, encoding="utf-8")
    (tmp_path / "prices.json").write_text(json.dumps(PRICES), encoding="utf-8")
    flow = tmp_path / "basket.flow.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    store = str(tmp_path / "runs.sqlite")
    tools = ["--tools", str(tmp_path / "basket_tools.py")]
    inputs = json.dumps({"items": ["apple", "pear", "fig"]})
    done = run_script("run", str(flow), *tools, "--store", store, "--run-id", "basket-1",
                      "--input", inputs, "--no-progress")  # fmt: skip
    assert done.returncode == 0, done.stderr
    ledger = tmp_path / "ledger.txt"
    assert len(ledger.read_text().splitlines()) == 1
    return ["runs", "verify", "basket-1", str(flow), *tools, "--store", store], ledger


def test_an_unchanged_run_reproduces_in_another_process(tmp_path: Path) -> None:
    verify, ledger = recorded(tmp_path)
    before = ledger.read_text()

    done = run_script(*verify)

    assert (done.returncode, done.stderr) == (0, "")
    # prices + 3 instances, total; notify is reused from the record
    assert done.stdout == "run basket-1 reproduces its 5 recorded steps (1 reused)\n"
    assert ledger.read_text() == before  # notify was not called


def test_a_tool_that_changed_between_processes_is_caught(tmp_path: Path) -> None:
    verify, ledger = recorded(tmp_path)
    before = ledger.read_text()
    (tmp_path / "prices.json").write_text(json.dumps({**PRICES, "pear": 95}), encoding="utf-8")

    done = run_script(*verify)

    assert (done.returncode, done.stderr) == (1, "")
    assert done.stdout.splitlines() == [
        "run basket-1 diverges at prices[1]",
        "  step      prices",
        "  index     [1]",
        "  field     price",
        "  recorded  80",
        "  new       95",
    ]
    assert ledger.read_text() == before


def test_allow_side_effects_calls_with_the_recorded_key(tmp_path: Path) -> None:
    verify, ledger = recorded(tmp_path)
    (first,) = ledger.read_text().splitlines()

    done = run_script(*verify, "--allow-side-effects", "--json")

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["ok"], report["compared"], report["reused"]) == (True, 6, [])
    assert ledger.read_text().splitlines() == [first, first]  # same total, same key
