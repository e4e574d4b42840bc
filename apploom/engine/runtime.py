"""One running AppLoom: the database, the live apps and the services over them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Mapping

from sqlalchemy import inspect

from apploom.engine import catalogs, clock, formatting
from apploom.engine.access.permissions import User
from apploom.engine.access.throttle import Throttle
from apploom.engine.access.users import Users
from apploom.engine.automation import notifications, outbox
from apploom.engine.automation.actions import BUILTIN_ACTIONS, ActionFunction, RuleAction
from apploom.engine.automation.notifications import Notifications
from apploom.engine.automation.outbox import Sender
from apploom.engine.automation.robots import Robots
from apploom.engine.automation.service import Automation
from apploom.engine.automation.webhooks import webhook_sender
from apploom.engine.balances.service import Balances
from apploom.engine.channels.pulls import Pulls
from apploom.engine.channels.secrets import ChannelSecrets
from apploom.engine.channels.service import Channels
from apploom.engine.definitions.loading import load_apps
from apploom.engine.definitions.model import AppSet
from apploom.engine.errors import NotFound
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.imports.jobs import ImportJobs
from apploom.engine.imports.service import Importer
from apploom.engine.jobs.service import Jobs
from apploom.engine.prints.service import PrintDocuments
from apploom.engine.records.attachments import Attachments
from apploom.engine.records.service import RecordService
from apploom.engine.reports.flow import FlowAnalytics
from apploom.engine.reports.service import ReportRunner
from apploom.engine.settings import Settings
from apploom.engine.storage.database import Database
from apploom.engine.versions.applied import active_sources, definitions_mark
from apploom.engine.workflow.bulk import BulkTransitions
from apploom.engine.workflow.service import Transitions


class Runtime:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        apps: AppSet,
        types: FieldTypes,
        actions: Mapping[str, RuleAction | ActionFunction] | None = None,
        senders: Mapping[str, Sender] | None = None,
        plugins: Any = None,
    ):
        self.settings = settings
        clock.use_zone(settings.time_zone)
        formatting.use_currency(settings.currency)
        catalogs.use_language(settings.language)
        self.plugins = plugins  # the plugin manager, for hooks the web layer calls
        self.definitions_mark: int | None = None  # which applied versions it serves
        self.db = db
        self.apps = apps
        self.types = types
        self.records = RecordService(db, apps, types)
        self.transitions = Transitions(self.records)
        self.balances = Balances(self.records, self.records.tables)
        self.automation = Automation(self.records, self.transitions, actions)
        self.records.pipeline.attach("balances", self.balances.on_change)
        self.records.pipeline.attach("rules", self.automation.on_change)
        self.notifications = Notifications(db)
        self.channel_secrets = ChannelSecrets(db)
        self.channels = Channels(self.records, self.transitions, self.channel_secrets)
        self.senders: dict[str, Sender] = {
            "email": outbox.smtp_sender(settings.smtp_url, settings.mail_from, settings.base_url),
            "webhook": webhook_sender(settings.webhook_secret or None, self.channel_secrets.get),
            **(senders or {}),
        }
        # every sender but email's and webhooks' posts to group robots
        self.robots = Robots(db, set(self.senders) - {"email", "webhook"}, apps.roles())
        self.users = Users(
            db,
            apps.roles(),
            Throttle(
                db, settings.sign_in_attempts, timedelta(minutes=settings.sign_in_window_minutes)
            ),
        )
        self.attachments = Attachments(
            db, settings.attachments_path, settings.max_attachment_bytes, self.records
        )
        self.pulls = Pulls(self.channels, types.pullers, self._channels_user)
        self.reports = ReportRunner(self.records, self.balances)
        self.prints = PrintDocuments(self.records, self.users.names)
        self.flow = FlowAnalytics(self.records)
        self.jobs = Jobs(db, self.users)
        self.imports = ImportJobs(
            self.jobs,
            settings.instance_path / "imports",
            Importer(self.records, self.transitions),
            settings.max_attachment_bytes,
        )
        self.bulk = BulkTransitions(self.transitions, self.jobs)

    @classmethod
    def open(
        cls,
        settings: Settings,
        types: FieldTypes | None = None,
        actions: Mapping[str, RuleAction | ActionFunction] | None = None,
        senders: Mapping[str, Sender] | None = None,
        plugins: Any = None,
        db: Database | None = None,
    ) -> Runtime:
        """Connect (or use ``db``) and load the live definitions stored in the database;
        ``types``, ``actions`` and ``senders`` are what plugins add."""
        types = types or FieldTypes()
        settings.instance_path.mkdir(parents=True, exist_ok=True)
        db = db or Database(settings.database_url, settings.db_pool_size)
        with db.read() as conn:  # the mark first: a version applied meanwhile shows later
            mark = definitions_mark(conn) if inspect(conn).has_table("sys_app_version") else None
            sources = active_sources(conn)
        known = {**BUILTIN_ACTIONS, **(actions or {})}
        apps = load_apps(sources, types, known) if sources else AppSet({})
        runtime = cls(settings, db, apps, types, actions, senders, plugins)
        runtime.definitions_mark = mark
        return runtime

    def worker(self, interval: float = 2.0) -> outbox.Worker:
        """A thread delivering the outbox, running scheduled rules, pulling the polled
        channels, mailing notification digests and taking up jobs (imports, bulk
        transitions) whose process died; call .start() and, at the end, .stop()."""
        return outbox.Worker(self.db, self.senders, interval, self._background_round)

    def _channels_user(self) -> User:
        if not self.settings.webhook_user:
            raise NotFound("Set APPLOOM_WEBHOOK_USER: the user channels' orders are made as.")
        return self.users.get(self.settings.webhook_user)

    def _background_round(self) -> None:
        self.automation.run_schedules()
        self.pulls.run_due()
        notifications.mail_digests(self.db, self.settings.base_url)
        self.jobs.resume_stale()

    def close(self) -> None:
        self.db.dispose()
