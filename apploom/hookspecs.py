"""Every plugin hook AppLoom calls. A plugin is a module with functions named like these,
marked ``@hookimpl``; it is found in the ``apploom`` entry-point group or in a plugins
folder. Each hook returns what it adds; several plugins may implement the same hook."""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("apploom")
hookimpl = pluggy.HookimplMarker("apploom")


@hookspec
def apploom_field_types():
    """A list of FieldType instances: new field types for definitions. Subclass FieldType
    (apploom.engine.fields.base) or a built-in type (text, numbers, dates, choices,
    links in apploom.engine.fields) and override what differs."""


@hookspec
def apploom_actions():
    """{name: function(context, params) -> str}: rule actions, run inside the transaction.
    A RuleAction(run, check) instead of the function also checks the settings rules give
    it when definitions load: check(context, params) returns the mistakes, as text."""


@hookspec
def apploom_functions():
    """{name: function}: functions formulas, conditions and rules may call."""


@hookspec
def apploom_senders(settings):
    """{kind: function(payload)}: deliverers of outbox messages of that kind."""


@hookspec
def apploom_pullers():
    """{kind: Puller(pull, check)}: fetchers of polled channels' orders (Taobao, JD style),
    named by a channel's ``pull: {kind: ..., every: ...}``. pull(channel, secrets, cursor)
    returns a Batch(payloads, cursor); check(settings) the mistakes in the channel's
    other ``pull:`` keys, as text. A bare pull function is a Puller with no check."""


@hookspec
def apploom_routes(app):
    """Add routes or blueprints to the Flask app."""


@hookspec
def apploom_startup(runtime):
    """Called once the runtime is ready (apps loaded, services built)."""
