"""Checks on the shape of a flow as a graph of steps: ids, ``goto`` targets, reachability and silent loops.

Kept apart from the pydantic models (:mod:`.spec`) because these are the checks that need the whole flow at once,
and because the runner relies on them: a flow that passed them cannot send the bot into an endless loop within one
visitor turn (the runner still has a step budget as a last line of defence).

A *silent loop* is a cycle of steps none of which is guaranteed to stop and wait for the visitor: ``say`` and
``branch`` never wait, and an ``ask_field`` with ``skip_if_known`` is skipped once the field is known, so a cycle
through it would spin as soon as the visitor has answered it once. ``ask_buttons``, ``offer_trial`` and an
``ask_field`` that always asks do wait, so a cycle through one of them is a legitimate "ask again" loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from edudesk.bot.flows.errors import FlowProblem

__all__ = ["Exit", "GraphStep", "check_graph"]


@dataclass(frozen=True)
class Exit:
    """One way out of a step: the attribute path that names it (``options[1].goto``), the step it leads to
    (``None``: the flow ends) and whether the definition names the target (only those can dangle)."""

    path: str
    target: str | None
    explicit: bool


class GraphStep(Protocol):
    @property
    def id(self) -> str: ...

    def exits(self, following: str | None) -> list[Exit]: ...

    def always_waits(self) -> bool: ...


def check_graph(steps: Sequence[GraphStep]) -> list[FlowProblem]:
    """Every structural problem of ``steps`` (empty when the flow is sound), in definition order."""
    problems: list[FlowProblem] = []
    index: dict[str, int] = {}
    for i, step in enumerate(steps):
        if step.id in index:
            problems.append(FlowProblem(f"steps[{i}].id", f"步骤 ID「{step.id}」与第 {index[step.id] + 1} 步重复"))
        else:
            index[step.id] = i
    if problems:  # with two steps of one id every jump to it is ambiguous: fix the ids first
        return problems
    edges: dict[str, list[str]] = {}
    for i, step in enumerate(steps):
        following = steps[i + 1].id if i + 1 < len(steps) else None
        targets: list[str] = []
        for ex in step.exits(following):
            if ex.target is None:
                continue
            if ex.target not in index:
                problems.append(FlowProblem(f"steps[{i}].{ex.path}", f"跳转目标「{ex.target}」不存在"))
                continue
            targets.append(ex.target)
        edges.setdefault(step.id, targets)
    if steps:
        problems.extend(_unreachable(steps, edges))
        problems.extend(_silent_loops(steps, edges, index))
    return problems


def _unreachable(steps: Sequence[GraphStep], edges: dict[str, list[str]]) -> list[FlowProblem]:
    seen = {steps[0].id}
    todo = [steps[0].id]
    while todo:
        for target in edges.get(todo.pop(), []):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return [FlowProblem(f"steps[{i}]", f"步骤「{s.id}」永远不会执行到：没有任何步骤跳转到它")
            for i, s in enumerate(steps) if s.id not in seen]


def _silent_loops(steps: Sequence[GraphStep], edges: dict[str, list[str]],
                  index: dict[str, int]) -> list[FlowProblem]:
    """Cycles among steps that do not always wait (depth-first search; each cycle reported once, at the step
    whose jump closes it)."""
    silent = {s.id for s in steps if not s.always_waits()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []
    problems: list[FlowProblem] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in edges.get(node, []):
            if target not in silent:
                continue
            if state.get(target) == 1:
                cycle = [*path[path.index(target):], target]
                problems.append(FlowProblem(
                    f"steps[{index[node]}]",
                    f"步骤 {' → '.join(cycle)} 构成循环，中间没有等待访客回答的提问（已知即跳过的提问不算）",
                ))
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for step in steps:
        if step.id in silent and step.id not in state:
            visit(step.id)
    return problems
