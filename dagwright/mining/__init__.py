"""Mining flows from agent traces (DESIGN section 14).

:func:`mine` finds the tool chains agents repeat across sessions, wires them from the
values that flowed between calls, and offers each as a checked ``DAGFlow``;
:func:`mine_report` adds the candidates that were dropped and why.
"""

from dagwright.mining._mine import DroppedFlow, MinedFlow, MiningReport, mine, mine_report

__all__ = ["DroppedFlow", "MinedFlow", "MiningReport", "mine", "mine_report"]
