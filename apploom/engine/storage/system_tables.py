"""The platform's own tables (``sys_*``): users, tokens, failed sign-ins, definition versions,
history, naming series, idempotency keys, attachments, archived fields, the turns of
assignment rules, jobs, notifications with each user's choice of where they go, and the
group robots they may go to."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    text,
)

from apploom.engine.storage.column_types import UTCDateTime

ID = BigInteger().with_variant(Integer(), "sqlite")
metadata = MetaData()


def create(conn: Connection) -> None:
    """The system tables a database lacks, and the nullable columns and indexes a release
    added to those it has (``create_all`` leaves an existing table as it is)."""
    metadata.create_all(conn)
    for table in metadata.sorted_tables:
        _add_columns(conn, table)
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _add_columns(conn: Connection, table: Table) -> None:
    """Columns a release added to a table; only nullable ones, so old rows stay valid."""
    have = {column["name"] for column in inspect(conn).get_columns(table.name)}
    for column in table.columns:
        if column.name not in have and column.nullable:
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


def _user_fk(name: str, **kw) -> Column:
    return Column(name, ID, ForeignKey("sys_user.id"), **kw)


sys_user = Table(
    "sys_user",
    metadata,
    Column("id", ID, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(128)),
    Column("email", String(254)),
    Column("password_hash", String(255)),
    Column("roles", JSON, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("session_epoch", Integer),  # bumped to end every signed-in session of the user
    Column("language", String(8)),  # what they last chose to read: their emails' too
)

sys_token = Table(
    "sys_token",
    metadata,
    Column("id", ID, primary_key=True),
    _user_fk("user_id", nullable=False),
    Column("name", String(128)),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),  # NULL: made before tokens expired (see users.py)
    Column("last_used_at", UTCDateTime),  # to the hour
)

sys_auth_failure = Table(
    "sys_auth_failure",
    metadata,
    Column("id", ID, primary_key=True),
    Column("key", String(200), nullable=False),  # user:<username> or address:<client>
    Column("at", UTCDateTime, nullable=False),
    Index("ix_sys_auth_failure_key", "key", "at"),
)

sys_app_version = Table(
    "sys_app_version",
    metadata,
    Column("id", ID, primary_key=True),
    Column("app", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    Column("file", String(255), nullable=False),
    Column("source", Text, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("base", Text),  # the bundled definition this version builds on, if any
    Column("comment", Text),
    _user_fk("created_by"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("active", Boolean, nullable=False),
    UniqueConstraint("app", "version", name="uq_sys_app_version"),
)

sys_history = Table(
    "sys_history",
    metadata,
    Column("id", ID, primary_key=True),
    Column("entity", String(100), nullable=False),
    Column("record_id", ID, nullable=False),
    Column("version", Integer, nullable=False),
    Column("action", String(16), nullable=False),
    _user_fk("user_id"),
    Column("at", UTCDateTime, nullable=False),
    Column("changes", JSON, nullable=False),
    Column("transition", String(40)),  # for action "transition": which one
    Column("note", Text),  # the comment given with a transition
    Index("ix_sys_history_record", "entity", "record_id"),
)

sys_series = Table(
    "sys_series",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("last", BigInteger, nullable=False),
)

sys_idempotency = Table(
    "sys_idempotency",
    metadata,
    _user_fk("user_id", primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("entity", String(100), nullable=False),
    Column("request_hash", String(64)),  # of the body: a key reused with another is refused
    Column("status", Integer, nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

sys_webhook_delivery = Table(  # signed calls received lately: each is taken once
    "sys_webhook_delivery",
    metadata,
    Column("mac", String(64), primary_key=True),
    Column("received_at", UTCDateTime, nullable=False, index=True),
)

sys_attachment = Table(
    "sys_attachment",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    _user_fk("created_by"),
    Column("created_at", UTCDateTime, nullable=False),
)

sys_archived_field = Table(
    "sys_archived_field",
    metadata,
    Column("table_name", String(100), primary_key=True),
    Column("column_name", String(100), primary_key=True),
    Column("archived_at", UTCDateTime, nullable=False),
    Column("storage", JSON),  # the field's storage key, to check a later restore
)

sys_job = Table(  # work a user started that runs off the request: an import, a bulk action
    "sys_job",
    metadata,
    Column("id", ID, primary_key=True),
    Column("kind", String(32), nullable=False),  # import | transition
    Column("entity", String(100), nullable=False),
    Column("params", JSON, nullable=False),  # what it was asked to do, as its kind reads it
    Column("status", String(16), nullable=False),  # uploaded | queued | running | done | failed
    Column("done", Integer, nullable=False, default=0),
    Column("total", Integer, nullable=False, default=0),
    Column("beat_at", UTCDateTime),  # a queued or running job's last sign of life
    Column("report", JSON),  # what it did, as its work committed
    Column("message", Text),  # why it failed
    _user_fk("user_id"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index("ix_sys_job_user", "user_id", "created_at"),
    Index("ix_sys_job_status", "status", "beat_at"),
)

sys_job_refusal = Table(  # a record a bulk action could not act on, and why
    "sys_job_refusal",
    metadata,
    Column("job_id", ID, ForeignKey("sys_job.id"), primary_key=True),
    Column("position", Integer, primary_key=True),  # in the job's list of ids
    Column("record_id", ID, nullable=False),
    Column("message", Text, nullable=False),
    Column("fields", JSON),  # field -> message, when the record's fields were at fault
    Column("said", JSON),  # what those messages were made of (kept_messages), to word them
)

sys_meta = Table(
    "sys_meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

sys_comment = Table(
    "sys_comment",
    metadata,
    Column("id", ID, primary_key=True),
    Column("entity", String(100), nullable=False),
    Column("record_id", ID, nullable=False),
    _user_fk("user_id"),
    Column("at", UTCDateTime, nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_sys_comment_record", "entity", "record_id"),
)

sys_transition = Table(
    "sys_transition",
    metadata,
    Column("id", ID, primary_key=True),
    Column("entity", String(100), nullable=False),
    Column("record_id", ID, nullable=False),
    Column("transition", String(40)),  # NULL for the record entering its initial state
    Column("from_state", String(64)),
    Column("to_state", String(64), nullable=False),
    _user_fk("user_id"),
    Column("at", UTCDateTime, nullable=False),
    Column("comment", Text),
    Index("ix_sys_transition_record", "entity", "record_id", "at"),
)

sys_rule_run = Table(
    "sys_rule_run",
    metadata,
    Column("id", ID, primary_key=True),
    Column("entity", String(100), nullable=False),
    Column("record_id", ID, nullable=False),
    Column("rule", String(64), nullable=False),
    Column("trigger", String(64), nullable=False),
    Column("condition", Boolean),  # NULL: the rule has no condition
    Column("actions", JSON, nullable=False),  # what each action did
    Column("outcome", String(16), nullable=False),  # done | skipped | failed
    Column("error", Text),
    # what the actions' notes and the error were made of (kept_messages), to word them
    # in the reader's language: {"actions": [kept or null, ...], "error": kept or null}
    Column("said", JSON),
    Column("duration_ms", Integer, nullable=False),
    _user_fk("user_id"),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_sys_rule_run_record", "entity", "record_id"),
    # failed runs alone, so counting them (for /metrics) stays cheap however many ran
    Index(
        "ix_sys_rule_run_failed",
        "entity",
        "rule",
        postgresql_where=text("outcome = 'failed'"),
        sqlite_where=text("outcome = 'failed'"),
    ),
)

sys_outbox = Table(
    "sys_outbox",
    metadata,
    Column("id", ID, primary_key=True),
    Column("kind", String(40), nullable=False),  # email | webhook | a plugin's kind
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # pending | sent | dead
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Index("ix_sys_outbox_due", "status", "next_attempt_at"),
)

sys_notification = Table(
    "sys_notification",
    metadata,
    Column("id", ID, primary_key=True),
    _user_fk("user_id", nullable=False),
    Column("message", Text, nullable=False),
    Column("said", JSON),  # the message in each language ({en, zh}), the bell's words
    Column("link", String(300)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("read_at", UTCDateTime),
    # what told it (app.entity.rule, or app.entity.field for a new holder): the same kind
    # piling up folds into one digest entry
    Column("kind", String(200)),
    Column("folded", Integer),  # a digest entry: how many notifications it stands for
    Column("mailed", Integer),  # of those, how many the user's last digest email told
    Index("ix_sys_notification_user", "user_id", "read_at"),
    Index("ix_sys_notification_kind", "user_id", "kind", "created_at"),
)

sys_notification_choice = Table(  # where a user's notifications go; no row: the defaults
    "sys_notification_choice",
    metadata,
    _user_fk("user_id", primary_key=True),
    Column("bell", Boolean, nullable=False),
    Column("email", Boolean, nullable=False),
    Column("robot", Boolean, nullable=False),
)

sys_robot = Table(  # a group chat's robot (WeCom, DingTalk, Feishu) notifications post to
    "sys_robot",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("kind", String(40), nullable=False),  # the outbox sender that posts to it
    Column("url", Text, nullable=False),  # its webhook address: holds its key, never shown
    Column("secret", Text),  # signs each post, for robots set up to ask for a signature
    Column("roles", JSON, nullable=False),  # the roles whose notifications it posts
    Column("updated_at", UTCDateTime, nullable=False),
)

sys_schedule = Table(
    "sys_schedule",
    metadata,
    Column("key", String(200), primary_key=True),  # app.entity.rule
    Column("last_run_at", UTCDateTime, nullable=False),
)

sys_rotation = Table(  # whose turn it is, for assignment rules whose role's users take turns
    "sys_rotation",
    metadata,
    Column("key", String(200), primary_key=True),  # app.entity.field:role
    Column("last_user_id", ID, nullable=False),  # who took the last turn (0: nobody yet)
    Column("turns", BigInteger, nullable=False),  # how many turns were taken
)

# ---- sales channels: their secrets, the deliveries and orders they sent, their inbox ----
sys_channel_secret = Table(  # set with `apploom channels secret`; never shown back
    "sys_channel_secret",
    metadata,
    Column("channel", String(40), primary_key=True),
    Column("name", String(40), primary_key=True),  # signing (checks calls), or one for headers
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

sys_channel_delivery = Table(  # deliveries taken lately, by the id the platform gave them
    "sys_channel_delivery",
    metadata,
    Column("channel", String(40), primary_key=True),
    Column("delivery", String(200), primary_key=True),
    Column("received_at", UTCDateTime, nullable=False, index=True),
)

sys_channel_order = Table(  # which order a platform's order became, and as of when
    "sys_channel_order",
    metadata,
    Column("channel", String(40), primary_key=True),
    Column("external_id", String(64), primary_key=True),
    Column("order_id", ID, nullable=False),
    Column("platform_updated_at", UTCDateTime),  # the newest event applied, by its time
    Column("payload_hash", String(64), nullable=False),  # of the last payload applied
)

sys_channel_customer = Table(  # a platform's buyer id, and the customer it is
    "sys_channel_customer",
    metadata,
    Column("channel", String(40), primary_key=True),
    Column("buyer_id", String(100), primary_key=True),
    Column("customer_id", ID, nullable=False),
)

sys_channel_pull = Table(  # where each polled channel's pulls have got to, and when the next is
    "sys_channel_pull",
    metadata,
    Column("channel", String(40), primary_key=True),
    Column("cursor", Text),  # what the puller returned last, to start the next pull from
    Column("next_pull_at", UTCDateTime, nullable=False),  # also the lease of a pull under way
    Column("claim", String(32)),  # the token of the worker pulling now
    Column("failures", Integer, nullable=False),  # pulls failed in a row
    Column("last_error", Text),
    Column("last_pulled_at", UTCDateTime),  # the last pull that went through
)

sys_channel_inbox = Table(  # payloads a channel sent that did not go in, and why
    "sys_channel_inbox",
    metadata,
    Column("id", ID, primary_key=True),
    Column("channel", String(40), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("body", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("said", JSON),  # what the reason was made of (kept_messages), to word it
    Column("path", String(300)),  # the mapping's path (or the field) at fault
    Column("status", String(16), nullable=False),  # waiting | replayed
    Column("order_id", ID),  # the order its replay made or changed
    Index("ix_sys_channel_inbox_status", "status", "id"),
)
