"""What the schema cannot say about a channel: its paths compile, its name is one of the
order's channels, its statuses name transitions, its scheme has what it needs, a plugin
pulls its kind of pull."""

from __future__ import annotations

from typing import Iterator, Mapping

from apploom.engine.channels.definition import STATUS_ACTIONS, Channel, paths_of
from apploom.engine.channels.pullers import Puller, pull_problems
from apploom.engine.definitions.model import App, AppSet
from apploom.engine.messages import msg

ORDER, PAYMENT = "order", "payment"
NEEDED_FIELDS = ("customer", "channel", "external_id", "lines")


def webhook_channel_problems(app: App, apps: AppSet) -> Iterator[tuple[tuple, str]]:
    """Webhook actions naming a channel no app declares."""
    known = {name for each in apps.apps.values() for name in each.channels}
    for entity in app.entities.values():
        for i, rule in enumerate(entity.rules):
            for j, action in enumerate(rule.actions):
                named = action.params.get("channel") if isinstance(action.params, dict) else None
                if action.kind == "webhook" and named and named not in known:
                    yield (
                        ("entities", entity.name, "rules", i, "do", j),
                        msg(
                            "webhook: '{channel}' is not a channel; known channels: {known}",
                            channel=named,
                            known=", ".join(sorted(known)) or msg("none"),
                        ),
                    )


def channel_problems(app: App, pullers: Mapping[str, Puller]) -> Iterator[tuple[tuple, str]]:
    """(path inside the app, message) for each mistake in its channels; ``pullers`` are
    the pull kinds the plugins provide."""
    if not app.channels:
        return
    order = app.entities.get(ORDER)
    missing = [f for f in NEEDED_FIELDS if order is None or f not in order.fields]
    if order is None or missing:
        yield (
            ("channels",),
            msg(
                "channels need an entity '{entity}' with the fields {fields}",
                entity=ORDER,
                fields=", ".join(NEEDED_FIELDS),
            ),
        )
        return
    for name, channel in app.channels.items():
        for path, message in [*_problems(app, channel), *pull_problems(channel, pullers)]:
            yield ("channels", name, *path), message


def _problems(app: App, channel: Channel) -> Iterator[tuple[tuple, str]]:
    order = app.entities[ORDER]
    options = order.fields["channel"].option_values
    if options and channel.name not in options:
        yield (
            (),
            msg(
                "'{channel}' is not a channel of {entity}; add it to the options of its channel "
                "field (now: {options})",
                channel=channel.name,
                entity=app.name + "." + ORDER,
                options=", ".join(options),
            ),
        )
    for path in paths_of(channel):
        if path.problem:
            yield tuple(path.at.split(".")[2:]), path.problem
    auth = channel.auth
    if auth.scheme in ("hmac_base64", "hmac_hex", "token") and not auth.header:
        yield (
            ("auth",),
            msg("the {scheme} scheme needs the header the platform signs in", scheme=auth.scheme),
        )
    if auth.scheme == "md5_in_body" and not auth.signed:
        yield ("auth",), msg("md5_in_body needs 'signed': the body's fields signed, in order")
    transitions = order.workflow.transitions if order.workflow else {}
    for status, action in channel.statuses.items():
        if action not in transitions and action not in STATUS_ACTIONS:
            known = ", ".join([*sorted(transitions), *STATUS_ACTIONS])
            yield (
                ("statuses", status),
                msg(
                    "'{action}' is not a transition of {entity} nor one of: {known}",
                    action=action,
                    entity=ORDER,
                    known=known,
                ),
            )
    payment = app.entities.get(PAYMENT)
    methods = (
        payment.fields["method"].option_values if payment and "method" in payment.fields else ()
    )
    if channel.payment_method and channel.payment_method not in methods:
        yield (
            ("payment_method",),
            msg(
                "'{method}' is not a payment method; use one of: {methods}",
                method=channel.payment_method,
                methods=", ".join(methods),
            ),
        )
