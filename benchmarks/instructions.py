"""Instruction counts per run, with callgrind: a speed measure that load cannot skew.

Wall-clock benchmarks on a shared 2-core VM drift by +-25%; instruction counts do not.
For each workload this runs a script twice under ``valgrind --tool=callgrind`` (doing
zero runs, then ``--runs`` runs) and prints the difference per run, next to the same
measure for the pydantic floor (validate the input, build the output, dump it as JSON,
per step, without dagwright). Needs valgrind (`apt-get install valgrind`).

    python benchmarks/instructions.py --runs 1000
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DAGWRIGHT = """
import sys
sys.path.insert(0, {root!r})
from pydantic import BaseModel
from dagwright import Flow, Step, FlowExecutor, tool
class Num(BaseModel):
    n: int
@tool
def inc(n: int) -> Num:
    '''Add one.'''
    return Num(n=n + 1)
executor = FlowExecutor([inc], max_concurrency=1)
flow = Flow("linear", [Step(tool="inc") for _ in range({steps})])
executor.run(flow, {{"n": 0}})
for _ in range(int(sys.argv[1])):
    executor.run(flow, {{"n": 0}})
"""

FLOOR = """
import sys
from pydantic import BaseModel
class In(BaseModel):
    n: int
class Out(BaseModel):
    n: int
def floor():
    n = 0
    for _ in range({steps}):
        model = In.model_validate({{"n": n}})
        n = Out(n=model.n + 1).model_dump(mode="json")["n"]
    return n
for _ in range(int(sys.argv[1])):
    floor()
"""


def instructions(script: Path, runs: int) -> int:
    """Instructions callgrind counts for ``script`` doing ``runs`` runs."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, str(script), str(runs)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    match = re.search(r"Collected : (\d+)", done.stderr)
    if match is None:
        raise RuntimeError(f"no callgrind total in:\n{done.stderr}")
    return int(match.group(1))


def per_run(template: str, steps: int, runs: int) -> int:
    """Instructions per run of ``template`` with ``steps`` steps."""
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "workload.py"
        script.write_text(template.format(root=str(ROOT), steps=steps), encoding="utf-8")
        return (instructions(script, runs) - instructions(script, 0)) // runs


def main() -> int:
    """Print instructions per run for linear flows and the pydantic floor."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: apt-get install valgrind")
        return 1
    rows = []
    for steps in (1, 5, 100):
        ours = per_run(DAGWRIGHT, steps, args.runs if steps < 100 else args.runs // 10)
        floor = per_run(FLOOR, steps, args.runs if steps < 100 else args.runs // 10)
        rows.append((steps, ours, floor))
        print(f"linear{steps:<4} dagwright {ours:>10,}  floor {floor:>10,}  x{ours / floor:.2f}")
    (_, ours5, floor5), (_, ours100, floor100) = rows[1], rows[2]
    marginal = (ours100 - ours5) / 95
    floor_marginal = (floor100 - floor5) / 95
    print(f"per step  dagwright {marginal:>10,.0f}  floor {floor_marginal:>10,.0f}  "
          f"x{marginal / floor_marginal:.2f}")  # fmt: skip
    print("targets as multiples of the reference floor: linear5 x1.9, per step x2.7")
    return 0


if __name__ == "__main__":
    sys.exit(main())
