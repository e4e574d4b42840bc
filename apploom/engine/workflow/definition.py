"""Workflows: the states of one status field and the transitions between them, as
defined, and the checks that find mistakes in them before they load."""

from __future__ import annotations

from dataclasses import dataclass
from typing import AbstractSet, Any, Mapping

from apploom.engine.definitions.model import Field, Label, Option, frozen_map
from apploom.engine.expressions.compiled import FUNCTIONS, ExpressionError, compile_expression
from apploom.engine.messages import Message, message_of, msg

ANY = "any"
COLOURS = ("grey", "blue", "green", "amber", "red", "purple", "teal")


@dataclass(frozen=True)
class State:
    name: str
    label: Label
    colour: str = "grey"
    final: bool = False
    readonly: tuple[str, ...] = ()  # fields that cannot change while in this state


@dataclass(frozen=True)
class Transition:
    name: str
    label: Label
    sources: tuple[str, ...]  # ("any",) for every state
    target: str
    roles: tuple[str, ...] | None = None  # None: whoever may update the record
    guard: str | None = None
    require: tuple[str, ...] = ()
    confirm: Label | None = None
    refusal: Label | None = None  # what the user is told when its condition does not hold

    def leaves(self, state: str) -> bool:
        return ANY in self.sources or state in self.sources


@dataclass(frozen=True)
class Workflow:
    field: str
    initial: str
    states: Mapping[str, State]
    transitions: Mapping[str, Transition]

    def endings(self, state: str) -> list[Transition]:
        """The transitions that take a record in ``state`` to a final one (a cancel)."""
        return [
            t for t in self.transitions.values() if t.leaves(state) and self.states[t.target].final
        ]

    def status_field(self) -> Field:
        """The select field the workflow governs; only transitions change it."""
        return Field(
            name=self.field,
            type="select",
            label=Label("Status", "状态"),
            options=tuple(Option(s.name, s.label) for s in self.states.values()),
            default=self.initial,
            readonly=True,
            index=True,
        )


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def parse_workflow(raw: Mapping[str, Any]) -> Workflow:
    states = {
        name: State(
            name=name,
            label=Label.parse((spec or {}).get("label"), name),
            colour=(spec or {}).get("colour", "grey"),
            final=(spec or {}).get("final", False),
            readonly=_names((spec or {}).get("readonly")),
        )
        for name, spec in raw["states"].items()
    }
    transitions = {
        name: Transition(
            name=name,
            label=Label.parse(spec.get("label"), name),
            sources=_names(spec["from"]),
            target=spec["to"],
            roles=_names(spec["roles"]) if "roles" in spec else None,
            guard=spec.get("if"),
            require=_names(spec.get("require")),
            confirm=Label.parse(spec["confirm"], "") if spec.get("confirm") else None,
            refusal=Label.parse(spec["refusal"], "") if spec.get("refusal") else None,
        )
        for name, spec in (raw.get("transitions") or {}).items()
    }
    return Workflow(
        field=raw.get("field", "status"),
        initial=raw["initial"],
        states=frozen_map(states),
        transitions=frozen_map(transitions),
    )


def lint(
    workflow: Workflow,
    fields: Mapping[str, Field],
    roles: set[str],
    functions: AbstractSet[str] = frozenset(),
) -> tuple[list[tuple[tuple, str]], list[tuple[tuple, str]]]:
    """(errors, warnings) as (path inside the workflow block, message) pairs."""
    errors: list[tuple[tuple, str]] = []
    warnings: list[tuple[tuple, str]] = []
    states = workflow.states
    known = ", ".join(states)

    def not_a_state(name: str) -> Message:
        return msg("'{state}' is not one of the states ({states})", state=name, states=known)

    if workflow.initial not in states:
        errors.append((("initial",), not_a_state(workflow.initial)))
    for state in states.values():
        for name in state.readonly:
            if name not in fields:
                errors.append(
                    (
                        ("states", state.name, "readonly"),
                        msg("'{field}' is not a field of this entity", field=name),
                    )
                )
    for t in workflow.transitions.values():
        path = ("transitions", t.name)
        for source in t.sources:
            if source != ANY and source not in states:
                errors.append((path + ("from",), not_a_state(source)))
        if t.target not in states:
            errors.append((path + ("to",), not_a_state(t.target)))
        if t.roles is not None and not set(t.roles) & roles:
            errors.append(
                (
                    path + ("roles",),
                    msg(
                        "no role may take this transition: {given}; known roles: {roles}",
                        given=", ".join(t.roles) or msg("the list is empty"),
                        roles=", ".join(sorted(roles)),
                    ),
                )
            )
        for name in t.require:
            if name not in fields or name == workflow.field:
                errors.append(
                    (
                        path + ("require",),
                        msg("'{field}' is not a field it can ask for", field=name),
                    )
                )
        if t.guard:
            try:
                used = compile_expression(t.guard).names - set(FUNCTIONS) - functions
            except ExpressionError as exc:
                errors.append(
                    (path + ("if",), msg("the condition {problem}", problem=message_of(exc)))
                )
                used = frozenset()
            for name in sorted(used - set(fields)):
                errors.append(
                    (
                        path + ("if",),
                        msg(
                            "the condition uses '{field}', which is not a field of this entity",
                            field=name,
                        ),
                    )
                )
    if errors:
        return errors, warnings
    for name in unreachable_states(workflow):
        warnings.append(
            (
                ("states", name),
                msg(
                    "'{state}' cannot be reached from '{initial}'",
                    state=name,
                    initial=workflow.initial,
                ),
            )
        )
    for name in dead_end_states(workflow):
        warnings.append(
            (
                ("states", name),
                msg("'{state}' has no way out and is not marked final: true", state=name),
            )
        )
    return errors, warnings


def unreachable_states(workflow: Workflow) -> list[str]:
    """The states no chain of transitions leads to from the initial one."""
    reachable = _reachable(workflow)
    return [name for name in workflow.states if name not in reachable]


def dead_end_states(workflow: Workflow) -> list[str]:
    """The states a record cannot leave that are not marked final: it would be stuck."""
    return [
        state.name
        for state in workflow.states.values()
        if not state.final
        and not any(
            t.leaves(state.name) and t.target != state.name for t in workflow.transitions.values()
        )
    ]


def _reachable(workflow: Workflow) -> set[str]:
    seen = {workflow.initial}
    frontier = [workflow.initial]
    while frontier:
        state = frontier.pop()
        for t in workflow.transitions.values():
            if t.leaves(state) and t.target not in seen:
                seen.add(t.target)
                frontier.append(t.target)
    return seen
