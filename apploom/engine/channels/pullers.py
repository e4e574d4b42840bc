"""What a plugin gives for a platform that is polled (Taobao, JD, Pinduoduo style): a
puller, which fetches the orders after a cursor, and the checks of a channel's ``pull:``
settings when definitions load.

A puller is called with the channel, its secrets ({name: value}, read at each pull)
and the cursor it returned last time (None the first time); it returns the batch of the
platform's payloads, each read through the channel's mapping as a pushed one is, and
the cursor to start from next time. It raises to say the pull failed: the engine keeps
the cursor, and tries again later, backing off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from croniter import croniter

from apploom.engine.channels.definition import Channel
from apploom.engine.messages import msg


@dataclass(frozen=True)
class Batch:
    """One pull's payloads (JSON values, or the raw bytes the platform sent) and the
    cursor to start from next time (None: the same cursor again)."""

    payloads: list[Any] = field(default_factory=list)
    cursor: str | None = None


PullFunction = Callable[[Channel, Mapping[str, str], "str | None"], Batch]


def no_problems(settings: Mapping[str, Any]) -> list[str]:
    return []


@dataclass(frozen=True)
class Puller:
    """``pull(channel, secrets, cursor) -> Batch``; ``check(settings)`` lists what is
    wrong with a channel's ``pull:`` settings (its keys beside kind and every)."""

    pull: PullFunction
    check: Callable[[Mapping[str, Any]], list[str]] = no_problems


def as_puller(given: Puller | PullFunction) -> Puller:
    """A plugin may give the pull function alone, whose settings then go unchecked."""
    return given if isinstance(given, Puller) else Puller(given)


def pull_problems(channel: Channel, pullers: Mapping[str, Puller]) -> Iterator[tuple[tuple, str]]:
    """(path inside the channel, message) for each mistake in its ``pull:``."""
    pull = channel.pull
    if pull is None:
        return
    puller = pullers.get(pull.kind)
    if puller is None:
        yield (
            ("pull", "kind"),
            msg(
                "no plugin pulls '{kind}' channels; known kinds: {known}",
                kind=pull.kind,
                known=", ".join(sorted(pullers)) or msg("none"),
            ),
        )
    if isinstance(pull.every, str) and not croniter.is_valid(pull.every):
        yield (
            ("pull", "every"),
            msg("'{every}' is neither seconds nor a cron expression", every=pull.every),
        )
    for message in puller.check(pull.settings) if puller else ():
        yield ("pull",), message
