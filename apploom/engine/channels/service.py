"""Orders from sales channels: a platform's call checked as the platform signs it, its
payload read through the channel's mapping, and the order it describes created, or
brought up to date, in one transaction.

A platform's order is remembered by (channel, external id) with the payload last applied
and the platform's updated time: the same payload again changes nothing, an event older
than the one applied is ignored, and a later one applies what changed (ship-to, note,
cancellation, payment, refund). A payload that cannot go in is kept in the channel's
inbox with the reason, for an admin to fix and replay.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from apploom.engine.access.permissions import require as require_permission
from apploom.engine.access.users import User
from apploom.engine.channels import auth, mapping
from apploom.engine.channels.definition import NOT_CONFIRMED, SHIP_TO, Channel
from apploom.engine.channels.inbox import Inbox
from apploom.engine.channels.mapping import Incoming
from apploom.engine.channels.secrets import ChannelSecrets
from apploom.engine.definitions.model import App, Entity
from apploom.engine.errors import (
    Forbidden,
    NotFound,
    RuleError,
    Unauthenticated,
    ValidationFailed,
)
from apploom.engine.fields.base import Invalid
from apploom.engine.messages import message_of, msg
from apploom.engine.records.inputs import read_input
from apploom.engine.records.service import RecordService
from apploom.engine.storage.system_tables import sys_channel_customer, sys_channel_order
from apploom.engine.workflow.service import Transitions

UPDATED = (*SHIP_TO, "note")  # what a later event may change on the order


@dataclass(frozen=True)
class Outcome:
    """What a delivery did: created, updated, unchanged (the payload applied already),
    older (than the event applied: ignored) or repeated (a delivery id seen before)."""

    outcome: str
    order: dict | None = None


class Channels:
    def __init__(self, records: RecordService, transitions: Transitions, secrets: ChannelSecrets):
        self.records = records
        self.transitions = transitions
        self.secrets = secrets
        self.inbox = Inbox(records.db)

    def find(self, name: str) -> tuple[App, Channel]:
        found = self.records.apps.channel(name)
        if found is None:
            raise NotFound(msg("There is no sales channel '{name}'", name=name))
        return found

    def receive(
        self, user: User, name: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> Outcome:
        """A platform's call as it came: refused (Unauthenticated) unless signed as the
        channel signs; a payload that cannot go in raises ValidationFailed (or RuleError)
        and is kept in the inbox."""
        app, channel = self.find(name)
        data = _json(body)
        refused = auth.signature_refused(
            channel.auth, self.secrets.get(name), headers, path, body, data
        ) or auth.stale(channel, headers)
        if refused:
            raise Unauthenticated(refused)
        return self._take(user, app, channel, body, headers)

    def replay(self, user: User, entry_id: int, body: str) -> Outcome:
        """An inbox entry taken again with its body as an admin fixed it (no signature:
        the admin vouches for it)."""
        entry = self.inbox.get(entry_id)
        app, channel = self.find(entry["channel"])
        raw = body.encode()
        try:
            outcome = self._take(user, app, channel, raw, {}, kept=entry_id)
        except (ValidationFailed, RuleError) as exc:
            self.inbox.refused_again(entry_id, body, exc)
            raise
        self.inbox.replayed(entry_id, body, outcome.order["id"] if outcome.order else None)
        return outcome

    def require_taker(self, user: User, app: App) -> None:
        """Refuse unless ``user`` may make the channels' orders, and confirm them."""
        orders = app.entities["order"]
        require_permission(self.records.apps, user, orders, "create")
        if not self.transitions.may(user, orders.qualified, "confirm"):
            raise Forbidden(
                msg(
                    "{user} may not confirm orders; give the webhook user a role that may",
                    user=user.username,
                )
            )

    def take_in(
        self, conn: Connection, user: User, app: App, channel: Channel, body: bytes
    ) -> Outcome:
        """One payload read through the channel's mapping into a new order, or the one it
        made before brought up to date, inside the caller's transaction: the path pushed,
        replayed and pulled payloads all take."""
        data = _json(body)
        if data is None:
            raise ValidationFailed({"body": msg("is not JSON")})
        incoming = mapping.read(channel, data)
        return self._apply(conn, user, app, channel, incoming, _hash(body))

    def _take(
        self,
        user: User,
        app: App,
        channel: Channel,
        body: bytes,
        headers: Mapping[str, str],
        kept: int | None = None,
    ) -> Outcome:
        self.require_taker(user, app)

        def work(conn: Connection) -> Outcome:
            if auth.seen_before(conn, channel, headers):
                return Outcome("repeated")
            return self.take_in(conn, user, app, channel, body)

        try:
            try:
                return self.records.transaction(work)
            except (IntegrityError, ValidationFailed) as exc:
                if isinstance(exc, ValidationFailed) and not raced(exc):
                    raise
                # the same delivery, order or customer arriving twice at once: the other
                # one won, and taking this one again finds what it made
                return self.records.transaction(work)
        except (ValidationFailed, RuleError) as exc:
            if kept is None:
                self.inbox.keep(channel.name, body, exc)
            raise

    def _apply(
        self,
        conn: Connection,
        user: User,
        app: App,
        channel: Channel,
        incoming: Incoming,
        payload_hash: str,
    ) -> Outcome:
        link = sys_channel_order
        key = (link.c.channel == channel.name, link.c.external_id == incoming.external_id[:64])
        known = conn.execute(select(link).where(*key)).mappings().first()
        if known is None:
            order = self._create(conn, user, app, channel, incoming)
            conn.execute(
                insert(link).values(
                    channel=channel.name,
                    external_id=incoming.external_id[:64],
                    order_id=order["id"],
                    platform_updated_at=incoming.updated_at,
                    payload_hash=payload_hash,
                )
            )
            return Outcome("created", self._get(conn, app, order["id"]))
        order_id = known["order_id"]
        if known["payload_hash"] == payload_hash:
            return Outcome("unchanged", self._get(conn, app, order_id))
        applied = known["platform_updated_at"]
        if incoming.updated_at is not None and applied is not None:
            if incoming.updated_at <= applied:
                return Outcome("older", self._get(conn, app, order_id))
        self._update(conn, user, app, channel, incoming, order_id)
        conn.execute(
            update(link)
            .where(*key)
            .values(platform_updated_at=incoming.updated_at or applied, payload_hash=payload_hash)
        )
        return Outcome("updated", self._get(conn, app, order_id))

    # ---- a new order ------------------------------------------------------------------
    def _create(
        self, conn: Connection, user: User, app: App, channel: Channel, incoming: Incoming
    ) -> dict:
        orders = app.entities["order"]
        lines = self._lines(conn, orders, channel, incoming)
        data = {
            **incoming.order,
            "channel": channel.name,
            "external_id": incoming.external_id,
            "customer": self._customer(conn, user, orders, channel, incoming.customer),
            "lines": lines,
        }
        order = self.records.create_in(conn, user, orders, data)
        _check_figures(incoming, order)
        action = channel.statuses.get(incoming.status or "")
        if action in NOT_CONFIRMED:
            return self.transitions.take_in(conn, user, orders, action, order["id"])
        if channel.confirm:
            order = self.transitions.take_in(conn, user, orders, "confirm", order["id"])
        self._follow(conn, user, app, channel, incoming, order["id"], action)
        return order

    def _lines(
        self, conn: Connection, orders: Entity, channel: Channel, incoming: Incoming
    ) -> list[dict]:
        line_entity = self.records.apps.entity(orders.fields["lines"].child)
        items_ref = line_entity.fields["item"].target
        table = self.records.table(items_ref)
        own = [line.get("sku") or "" for line in incoming.lines]
        mapped = [channel.products.get(str(line.get("product")), "") for line in incoming.lines]
        ids = dict(
            conn.execute(
                select(table.c.sku, table.c.id).where(table.c.sku.in_({*own, *mapped} - {""}))
            ).all()
        )
        skus = [sku if sku in ids else other or sku for sku, other in zip(own, mapped, strict=True)]
        lines, errors = [], {}
        for i, (line, sku) in enumerate(zip(incoming.lines, skus, strict=True)):
            if sku not in ids:
                errors[f"lines.{i}.sku"] = (
                    msg("there is no item with SKU '{sku}'", sku=sku)
                    if sku
                    else msg(
                        "product {product} is not in the channel's products",
                        product=line.get("product"),
                    )
                )
                continue
            row = {"item": ids[sku], "qty": line["qty"], "price": line["price"]}
            if line.get("discount") is None and line.get("amount") is not None:
                line = {**line, "discount": line["qty"] * line["price"] - line["amount"]}
            if line.get("discount") is not None:
                row["discount"] = line["discount"]
            if "tax" in line or incoming.tax is not None:
                rate = mapping.line_tax_rate(
                    line, bool(incoming.order.get("prices_include_tax", True))
                )
                row["tax_rate"] = rate if rate is not None else Decimal(0)
            lines.append(row)
        if errors:
            raise ValidationFailed(errors)
        return lines

    def _customer(
        self,
        conn: Connection,
        user: User,
        orders: Entity,
        channel: Channel,
        given: dict[str, Any],
    ) -> int:
        """Found by the platform's buyer id, else by email (any case), else by phone;
        made when none matches, and remembered by its buyer id."""
        customers = self.records.apps.entity(orders.fields["customer"].target)
        table = self.records.table(customers.qualified)
        buyer = str(given["buyer_id"])[:100] if given.get("buyer_id") else None
        email = self._coerced(customers, "email", given.get("email"))
        phone = self._coerced(customers, "phone", given.get("phone"))
        links = sys_channel_customer
        found = None
        if buyer:
            found = conn.execute(
                select(links.c.customer_id).where(
                    links.c.channel == channel.name, links.c.buyer_id == buyer
                )
            ).scalar()
        if found is None and email:
            found = conn.execute(
                select(table.c.id).where(func.lower(table.c.email) == email.lower()).limit(1)
            ).scalar()
        if found is None and phone:
            found = conn.execute(select(table.c.id).where(table.c.phone == phone).limit(1)).scalar()
        if found is None:
            if not (email or phone or buyer):
                raise ValidationFailed(
                    {
                        "map.customer": msg(
                            "found no email, phone or buyer id to know the customer by"
                        )
                    }
                )
            require_permission(self.records.apps, user, customers, "create")
            name = (given.get("name") or "").strip() or email or phone or f"{channel.name} {buyer}"
            found = self.records.create_in(
                conn, user, customers, {"name": name[:120], "email": email, "phone": phone}
            )["id"]
        if buyer:
            known = conn.execute(
                select(links.c.customer_id).where(
                    links.c.channel == channel.name, links.c.buyer_id == buyer
                )
            ).scalar()
            if known is None:
                conn.execute(
                    insert(links).values(channel=channel.name, buyer_id=buyer, customer_id=found)
                )
        return found

    def _coerced(self, entity: Entity, name: str, value: Any) -> Any:
        if value in (None, "") or name not in entity.fields:
            return None
        field = entity.fields[name]
        try:  # as the record service stores it, so the look-up finds it
            return self.records.types[field.type].coerce(field, value)
        except Invalid as exc:
            raise ValidationFailed({f"map.customer.{name}": message_of(exc)}) from None

    # ---- a later event ----------------------------------------------------------------
    def _update(
        self,
        conn: Connection,
        user: User,
        app: App,
        channel: Channel,
        incoming: Incoming,
        order_id: int,
    ) -> None:
        orders = app.entities["order"]
        stored = self.records.stored(conn, user, orders, order_id, "update")
        changed = {
            k: v
            for k, v in incoming.order.items()
            if k in UPDATED and str(stored.values.get(k) or "") != str(v)
        }
        if changed:
            given = read_input(orders, changed, self.records.apps, self.records.types)
            self.records.change(conn, user, orders, stored, given)
        action = channel.statuses.get(incoming.status or "")
        state = self._state(conn, orders, order_id)
        if action in NOT_CONFIRMED or (action and action not in ("payment", "refund", "none")):
            transition = orders.workflow.transitions[action] if orders.workflow else None
            if transition is not None and transition.leaves(state):
                self.transitions.take_in(conn, user, orders, action, order_id)
            return
        self._follow(conn, user, app, channel, incoming, order_id, action)

    def _state(self, conn: Connection, orders: Entity, order_id: int) -> str:
        assert orders.workflow is not None
        table = self.records.table(orders.qualified)
        status = table.c[orders.workflow.field]
        return conn.execute(select(status).where(table.c.id == order_id)).scalar_one()

    def _follow(
        self,
        conn: Connection,
        user: User,
        app: App,
        channel: Channel,
        incoming: Incoming,
        order_id: int,
        action: str | None,
    ) -> None:
        """Record what the platform says was paid, or paid back."""
        if action not in ("payment", "refund") or "payment" not in app.entities:
            return
        table = self.records.table(app.entities["order"].qualified)
        total, paid = conn.execute(
            select(table.c.total, table.c.paid).where(table.c.id == order_id)
        ).one()
        payments = app.entities["payment"]
        require_permission(self.records.apps, user, payments, "create")
        if total > paid and (action == "payment" or paid == 0):
            self._pay(conn, user, payments, channel, incoming, order_id, total - paid)
            paid = total
        if action == "refund" and paid > 0:
            self._pay(conn, user, payments, channel, incoming, order_id, -paid)

    def _pay(
        self,
        conn: Connection,
        user: User,
        payments: Entity,
        channel: Channel,
        incoming: Incoming,
        order_id: int,
        amount: Decimal,
    ) -> None:
        methods = payments.fields["method"].option_values
        method = incoming.payment.get("method")
        method = method if method in methods else channel.payment_method
        if not method:
            raise ValidationFailed(
                {
                    "map.payment.method": msg(
                        "found '{method}', which is not one of: {methods}; "
                        "or give the channel a payment_method",
                        method=incoming.payment.get("method"),
                        methods=", ".join(methods),
                    )
                }
            )
        data = {
            "order": order_id,
            "amount": amount,
            "method": method,
            "reference": incoming.payment.get("reference"),
        }
        if incoming.payment.get("paid_at") and amount > 0:
            data["paid_at"] = incoming.payment["paid_at"]
        try:
            self.records.create_in(conn, user, payments, data)
        except ValidationFailed as exc:
            raise ValidationFailed({f"payment.{k}": v for k, v in exc.fields.items()}) from None

    def _get(self, conn: Connection, app: App, order_id: int) -> dict:
        orders = app.entities["order"]
        return self.records.dump(orders, self.records.load(conn, orders, [order_id])[order_id])


def _check_figures(incoming: Incoming, order: Mapping[str, Any]) -> None:
    """The order must come to what the platform charged: a mapping that misses a fee or
    a tax would otherwise make an order that looks right and is not."""
    errors = {}
    for name, theirs in (("total", incoming.total), ("tax", incoming.tax)):
        ours = Decimal(str(order.get(name) or 0))
        if theirs is not None and ours != theirs:
            errors[f"map.{name}"] = msg(
                "the platform says {theirs}; the order comes to {ours}: "
                "map the fees, discounts and taxes that make up the difference",
                theirs=str(theirs),
                ours=str(ours),
            )
    if errors:
        raise ValidationFailed(errors)


def raced(exc: ValidationFailed) -> bool:
    """Whether the refusal is a unique value another transaction wrote meanwhile."""
    return any(message.startswith("is already used by another") for message in exc.fields.values())


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
