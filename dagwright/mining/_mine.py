"""``mine``: find the tool chains agents repeat in their traces and offer them as flows."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dagwright.compiler import Diagnostic, compile_flow
from dagwright.errors import DagwrightError, FlowCompileError, UsageError
from dagwright.flows import DAGFlow
from dagwright.mining._build import build_flow, flow_base_name
from dagwright.mining._chains import Chain, chains_of, embeds
from dagwright.mining._replay import replay
from dagwright.mining._sessions import TraceInput, sessions_of
from dagwright.mining._wiring import nodes_of
from dagwright.tools import Tool, ToolSpec

__all__ = ["DroppedFlow", "MinedFlow", "MiningReport", "mine", "mine_report"]


@dataclass(frozen=True, slots=True)
class MinedFlow:
    """A flow mined from traces, checked before it is offered.

    ``flow`` compiles against the specs with no errors or warnings. ``support`` is the
    number of sessions in which the chain occurs, ``sessions`` their ids (sorted).
    ``calls_saved`` counts the model round trips the flow replaces: each occurrence of the
    chain made ``n`` tool calls and would make one flow call instead, so it saves
    ``n - 1``; ``calls_saved`` sums that over every occurrence in every session (a map
    step counts each of its calls). ``replay_matches`` is ``True`` when running the flow
    on each occurrence's recorded inputs reproduced every recorded result, ``False`` when
    one did not, ``None`` when it could not run (``replay_note`` says why, or what
    differed).
    """

    flow: DAGFlow
    support: int
    sessions: tuple[str, ...]
    calls_saved: int
    replay_matches: bool | None
    replay_note: str

    @property
    def score(self) -> int:
        """The ranking key: ``support * calls_saved``."""
        return self.support * self.calls_saved

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (the flow by name; dump it with ``dump_flow``)."""
        return {
            "flow": self.flow.name,
            "support": self.support,
            "sessions": list(self.sessions),
            "calls_saved": self.calls_saved,
            "replay_matches": self.replay_matches,
            "replay_note": self.replay_note,
        }


@dataclass(frozen=True, slots=True)
class DroppedFlow:
    """A chain frequent enough to mine that was not offered, and why.

    ``flow`` is the flow that was built (``None`` when none could be), ``reason`` one
    line, ``diagnostics`` the compiler's findings when compiling it failed.
    """

    name: str
    flow: DAGFlow | None
    support: int
    sessions: tuple[str, ...]
    calls_saved: int
    reason: str
    diagnostics: tuple[Diagnostic, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: the reason and each diagnostic's code, step and message."""
        return {
            "flow": self.name,
            "support": self.support,
            "sessions": list(self.sessions),
            "calls_saved": self.calls_saved,
            "reason": self.reason,
            "diagnostics": [
                {"code": d.code, "severity": d.severity, "step": d.step_id, "message": d.message}
                for d in self.diagnostics
            ],
        }


@dataclass(frozen=True, slots=True)
class MiningReport:
    """What :func:`mine_report` found: ``offered`` (ranked like :func:`mine`),
    ``dropped`` (sorted by name), and how many ``sessions`` and successful ``calls``
    were read."""

    offered: tuple[MinedFlow, ...]
    dropped: tuple[DroppedFlow, ...] = field(default=())
    sessions: int = 0
    calls: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: counts, ``offered`` in rank order, ``dropped`` by name."""
        return {
            "sessions": self.sessions,
            "calls": self.calls,
            "offered": [m.to_dict() for m in self.offered],
            "dropped": [d.to_dict() for d in self.dropped],
        }


def _specs(
    specs: Iterable[Tool | ToolSpec], tools: Iterable[Tool] | None
) -> tuple[dict[str, ToolSpec], dict[str, Tool] | None]:
    by_name: dict[str, ToolSpec] = {}
    callables: dict[str, Tool] = {}
    for item in specs:
        if isinstance(item, Tool):
            callables[item.name] = item
            by_name[item.name] = item.spec
        else:
            by_name[item.name] = item
    for item in tools or ():
        callables[item.name] = item
        by_name.setdefault(item.name, item.spec)
    return by_name, (callables or None)


def _calls_saved(chain: Chain) -> int:
    return sum(occ.calls - 1 for occ in chain.occurrences)


def _support(chain: Chain) -> tuple[str, ...]:
    return tuple(sorted({occ.session for occ in chain.occurrences}))


def _description(sessions: tuple[str, ...]) -> str:
    shown = ", ".join(sessions[:5])
    more = f" and {len(sessions) - 5} more" if len(sessions) > 5 else ""
    return (
        f"Mined from agent traces: the same tool chain in {len(sessions)} sessions ({shown}{more})."
    )


def _blocking(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    # Hygiene findings (DW4xx) are advice; anything else would make lint complain.
    return [d for d in diagnostics if d.severity == "error" or not d.code.startswith("DW4")]


def mine_report(
    traces: Iterable[TraceInput] | str | os.PathLike[str],
    specs: Iterable[Tool | ToolSpec],
    min_support: int = 3,
    *,
    tools: Iterable[Tool] | None = None,
) -> MiningReport:
    """Mine ``traces`` and return the offered flows and the dropped candidates with reasons.

    ``traces``: trace call records (:class:`~dagwright.traces.TraceCall` or trace-line
    objects) or trace file paths. ``specs``: the tools' ``Tool``s or ``ToolSpec``s; the
    ``Tool``s among them (and ``tools``) are run to replay each mined flow. A chain with
    support ``min_support`` or more is a candidate; it is dropped when it lies inside a
    longer candidate with the same support, uses a tool with no spec, or its flow does
    not compile clean. The result is the same for the same records in any order.
    """
    if isinstance(min_support, bool) or not isinstance(min_support, int) or min_support < 1:
        raise UsageError(
            f"min_support must be an int >= 1, got {min_support!r}",
            hint="min_support is the number of sessions a chain must occur in",
        )
    spec_of, callables = _specs(specs, tools)
    sessions = sessions_of(traces)
    nodes = {sid: nodes_of(calls) for sid, calls in sessions.items()}
    chains = [c for c in chains_of(nodes) if len(_support(c)) >= min_support]
    scored = sorted(
        chains,
        key=lambda c: (
            -len(_support(c)) * _calls_saved(c),
            flow_base_name(c.signature),
            repr(c.signature),
        ),
    )
    # Names follow the ranking, so the best chain of a tool sequence gets the plain name.
    taken: set[str] = set()
    names: list[str] = []
    for chain in scored:
        base = flow_base_name(chain.signature)
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        names.append(name)
    offered: list[MinedFlow] = []
    dropped: list[DroppedFlow] = []
    kept: list[tuple[Chain, str]] = []
    # Longer chains first: a chain is suppressed only by a longer one actually offered.
    for at in sorted(range(len(scored)), key=lambda k: (-len(scored[k].signature), k)):
        chain, name = scored[at], names[at]
        support = _support(chain)
        saved = _calls_saved(chain)

        def drop(
            reason: str,
            flow: DAGFlow | None = None,
            diags: Iterable[Diagnostic] = (),
            *,
            name: str = name,
            support: tuple[str, ...] = support,
            saved: int = saved,
        ) -> None:
            dropped.append(
                DroppedFlow(name, flow, len(support), support, saved, reason, tuple(diags))
            )

        longer = [
            other
            for o, other in kept
            if len(_support(o)) == len(support) and embeds(chain.signature, o.signature)
        ]
        if longer:
            drop(f"lies inside the longer chain {longer[0]} with the same support")
            continue
        unknown = sorted({n.tool for n in chain.signature if n.tool not in spec_of})
        if unknown:
            drop(f"no spec for tool(s): {', '.join(unknown)}")
            continue
        first = chain.occurrences[0]
        try:
            built = build_flow(
                chain.signature, first.input_args, spec_of, name, _description(support)
            )
        except DagwrightError as exc:
            drop(f"the flow could not be built: {exc}")
            continue
        try:
            compiled = compile_flow(built.flow, list(spec_of.values()))
            blocking = _blocking(compiled.diagnostics)
        except FlowCompileError as exc:
            compiled, blocking = None, _blocking(exc.diagnostics)
        if blocking:
            codes = ", ".join(sorted({d.code for d in blocking}))
            drop(f"does not compile clean ({codes})", built.flow, blocking)
            continue
        # A wire into a field the producer's spec lacks would silently become an input.
        unfed = sorted(set(compiled.required_inputs if compiled else ()) - set(built.input_names))
        if unfed:
            drop(f"reads key(s) no step writes: {', '.join(unfed)}", built.flow)
            continue
        matches, note = replay(built, chain.occurrences, callables)
        offered.append(MinedFlow(built.flow, len(support), support, saved, matches, note))
        kept.append((chain, name))
    offered.sort(key=lambda m: (-m.score, m.flow.name))
    dropped.sort(key=lambda d: d.name)
    return MiningReport(
        tuple(offered),
        tuple(dropped),
        sessions=len(sessions),
        calls=sum(len(c) for c in sessions.values()),
    )


def mine(
    traces: Iterable[TraceInput] | str | os.PathLike[str],
    specs: Iterable[Tool | ToolSpec],
    min_support: int = 3,
    *,
    tools: Iterable[Tool] | None = None,
) -> list[MinedFlow]:
    """The flows mined from ``traces``, best first (``support * calls_saved`` descending,
    ties by flow name). See :func:`mine_report` for the candidates that were dropped."""
    return list(mine_report(traces, specs, min_support, tools=tools).offered)
