"""The plugin API: everything a plugin may use from AppLoom, in one module.

A plugin imports from here and nowhere else in ``apploom``; the rest is the platform's
to change. What it offers:

- ``hookimpl`` marks the functions that implement hooks (``apploom.hookspecs`` lists
  them; the README's plugin guide explains each).
- ``ActionContext`` is what a rule action receives: the transaction (``conn``), the
  triggering record (``entity``, ``record_id``, ``names["record"]``), the user acting
  with the rule's rights (``actor``), and the ways to change things inside the same
  transaction: ``create``, ``set``, ``force``, ``take``, ``attempt`` (a savepoint),
  ``enqueue`` (the outbox), ``publish`` (a name for later templates); and to read:
  ``defines``, ``table``, ``balance``, ``load``, ``titles``, ``evaluate``, ``render``;
  ``require`` refuses unless the triggering user may act on another entity's records.
- ``Runtime`` is what routes and the start-up hook get (``runtime()`` inside a
  request): ``records`` (the record service: ``get``, ``list``, ``create``,
  ``update``, ``transaction`` (runs ``work(conn)`` in one transaction, again on a lock
  conflict), ``create_in``, ``table``), ``transitions`` (``take``, ``take_in``,
  ``may``, ``steps``), ``users`` (``get``), ``prints`` (``helpers``: functions print
  templates may call, {name: function}, added from the start-up hook), ``settings``
  and ``apps``.
- For polled channels (``apploom_pullers``): ``Puller`` (pull, check), the ``Batch``
  a pull returns (payloads, cursor), and the ``Channel`` it is called with (its
  ``name``, and ``pull.settings``: the channel's ``pull:`` keys beside kind and every).
- Field types to register or subclass: ``FieldType`` and the built-in ones.
- Errors the engine turns into clear answers: ``ValidationFailed`` (field → message),
  ``RecordRefused`` (an action refusing the record that triggered it, field → message,
  shown next to those fields; ``zh=`` the messages in Chinese), ``Invalid`` (one
  value), ``Forbidden``, ``NotFound``, ``BalanceRefused``; their messages made with
  ``msg(template, **params)`` are English as they go and the reader's language where a
  screen or the API words them (the template is a msgid of the translations catalog).
- For pages: ``login_required`` (a route for signed-in staff: ``flask.g.user`` is who),
  ``require_admin`` (refuses anyone else), ``check_csrf`` (a blueprint's
  ``before_request`` for forms that post), ``translate`` (a screen's phrase in the
  reader's language),
  ``Label`` (a definition's text in English and Chinese: ``label.get(lang)``).
- Helpers: ``clock`` (``now()``, ``today()``, as replays set them), ``require_permission``,
  ``signature`` / ``accept_delivery`` (a webhook call signed with its time, path and
  body, taken once; ``require_signed_call`` answers 401 for the request that is not),
  ``secret_key``, ``SIGNING`` (the name of a channel's signing secret), ``Query``
  (its ``Condition``: a field, an operator, a value) and
  ``show`` (a value as screens show it).
"""

from __future__ import annotations

from apploom.engine import clock
from apploom.engine.access.permissions import User, require_admin
from apploom.engine.access.permissions import require as require_permission
from apploom.engine.access.signatures import accept_delivery, signature
from apploom.engine.automation.service import ActionContext
from apploom.engine.channels.definition import Channel
from apploom.engine.channels.pullers import Batch, Puller
from apploom.engine.channels.secrets import SIGNING
from apploom.engine.definitions.model import Label
from apploom.engine.errors import (
    AppLoomError,
    BalanceRefused,
    Forbidden,
    NotFound,
    RecordRefused,
    ValidationFailed,
)
from apploom.engine.fields.base import FieldType, Invalid
from apploom.engine.fields.choices import BooleanType, SelectType
from apploom.engine.fields.numbers import DecimalType, IntegerType, MoneyType
from apploom.engine.fields.text import TextType
from apploom.engine.messages import msg
from apploom.engine.query.filters import Condition, Query
from apploom.engine.runtime import Runtime
from apploom.engine.settings import Settings, secret_key
from apploom.hookspecs import hookimpl
from apploom.web.context import require_signed_call, runtime
from apploom.web.display import show
from apploom.web.i18n import current_language, translate
from apploom.web.session import check_csrf, login_required

__all__ = [
    "ActionContext",
    "AppLoomError",
    "BalanceRefused",
    "Batch",
    "BooleanType",
    "Channel",
    "Condition",
    "DecimalType",
    "FieldType",
    "Forbidden",
    "IntegerType",
    "Invalid",
    "Label",
    "MoneyType",
    "NotFound",
    "Puller",
    "Query",
    "RecordRefused",
    "Runtime",
    "SIGNING",
    "SelectType",
    "Settings",
    "TextType",
    "User",
    "ValidationFailed",
    "check_csrf",
    "clock",
    "current_language",
    "hookimpl",
    "login_required",
    "msg",
    "require_admin",
    "require_permission",
    "runtime",
    "secret_key",
    "show",
    "translate",
    "signature",
    "accept_delivery",
    "require_signed_call",
]
