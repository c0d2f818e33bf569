"""The public API is what ``tests/fixtures/public_api.json`` says it is.

When this fails, the package's public names or signatures changed. If the change is
meant, run ``make api-snapshot`` and commit the new snapshot with the change (and say
so in CHANGELOG.md); if not, the diff below names what moved.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

import pytest

import dagwright
from tests.api_snapshot import MODULES, SNAPSHOT, render, snapshot


def _changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``module.name`` of every public name added, removed or changed."""
    changed = []
    for module in sorted(set(old) | set(new)):
        before, after = old.get(module, {}), new.get(module, {})
        for name in sorted(set(before) | set(after)):
            if before.get(name) != after.get(name):
                how = (
                    "added" if name not in before else "removed" if name not in after else "changed"
                )
                changed.append(f"{module}.{name} ({how})")
    return changed


def test_the_public_api_matches_its_snapshot() -> None:
    expected = SNAPSHOT.read_text(encoding="utf-8")
    actual = render()
    if actual == expected:
        return
    changed = _changes(json.loads(expected), json.loads(actual))
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True), actual.splitlines(keepends=True),
            "public_api.json", "the package now", n=2,
        )
    )  # fmt: skip
    pytest.fail(
        "the public API changed: " + ", ".join(changed) + "\n"
        "if this is meant, run `make api-snapshot` and commit the snapshot\n" + diff[:6000]
    )


def test_every_top_level_name_is_in_the_snapshot() -> None:
    recorded = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert set(recorded["dagwright"]) == set(dagwright.__all__)
    assert set(recorded) == set(MODULES)


def test_a_changed_signature_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot()

    def load_flow(source: str, *, format: str | None = None, strict: bool = True) -> Any:
        raise AssertionError("never called")

    monkeypatch.setattr(dagwright, "load_flow", load_flow)
    monkeypatch.setattr(dagwright.InMemoryStepCache, "resize", lambda self, n: None, raising=False)
    after = snapshot()
    assert _changes(before, after) == [
        "dagwright.InMemoryStepCache (changed)",
        "dagwright.load_flow (changed)",
        "dagwright.cache.InMemoryStepCache (changed)",
    ]


def test_a_removed_name_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot()
    monkeypatch.setattr(dagwright, "__all__", [n for n in dagwright.__all__ if n != "tool"])
    assert _changes(before, snapshot()) == ["dagwright.tool (removed)"]
