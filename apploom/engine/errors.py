"""The engine's domain errors. The web layer maps them to HTTP answers; the
engine itself knows nothing of status codes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from apploom.engine.messages import Message, msg


class AppLoomError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "error"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a definition, located as precisely as we can."""

    file: str
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return str(self.worded())

    def worded(self) -> Message:
        """Where and what, as a message: the place stays as written, the message is
        worded in the reader's language."""
        where = self.file + (f":{self.line}" if self.line else "")
        path = self.path or msg("(top)")
        return Message(
            "{where}: {path}: {message}", {"where": where, "path": path, "message": self.message}
        )


class DefinitionError(AppLoomError):
    """One or more problems in app definitions; nothing of them was loaded."""

    code = "invalid_definition"

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        count = len(self.problems)
        head = (
            msg("{count} problem in the app definition", count=count)
            if count == 1
            else msg("{count} problems in the app definition", count=count)
        )
        self.headline = head  # what a screen listing the problems says above them
        lines = {f"problem{i}": p.worded() for i, p in enumerate(self.problems)}
        listing = "".join(f"\n  {{{name}}}" for name in lines)
        super().__init__(Message("{head}:" + listing, {"head": head, **lines}))


class ValidationFailed(AppLoomError):
    """Input for a record was refused; ``fields`` maps each field to its message."""

    code = "validation_failed"

    def __init__(self, fields: Mapping[str, str], message: str | None = None):
        self.fields = dict(fields)
        if message is None:
            names = ", ".join(self.fields)
            message = (
                msg("Please correct: {names}", names=names) if self.fields else msg("Invalid input")
            )
        super().__init__(message)


class RecordRefused(ValidationFailed):
    """A rule's action refused the record that triggered it, naming that record's fields
    (a return of more than was shipped): answered like the record's own input errors,
    next to the fields, not as a failed rule. ``zh`` may give the messages in Chinese,
    for the screens that speak it."""

    def __init__(
        self, fields: Mapping[str, str], message: str | None = None, *, zh: dict | None = None
    ):
        super().__init__(fields, message)
        self.zh: dict[str, str] = dict(zh or {})


class BalanceRefused(ValidationFailed):
    """A ledger write would break its balance's check (more reserved than on hand)."""


class BadQuery(AppLoomError):
    """A filter, sort or paging parameter names something that does not exist."""

    code = "bad_query"

    def __init__(self, message: str, fields: dict[str, str] | None = None):
        self.fields = dict(fields or {})
        super().__init__(message)


class NotFound(AppLoomError):
    code = "not_found"


class Forbidden(AppLoomError):
    code = "forbidden"


class BadSetting(AppLoomError):
    """A setting that would make the instance unsafe or unable to run; it refuses to start."""

    code = "bad_setting"


class Unauthenticated(AppLoomError):
    code = "unauthenticated"


class TooManyAttempts(AppLoomError):
    """Sign-ins or tokens failed too often for a user or client address: refused, without
    checking, for ``retry_after`` seconds."""

    code = "too_many_attempts"

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        self.minutes = max(1, -(-retry_after // 60))
        super().__init__(
            msg("Too many failed sign-ins; try again in {minutes} min.", minutes=self.minutes)
        )


class Conflict(AppLoomError):
    """A write the record's state refuses: ``current`` is what is stored now, ``yours``
    what was sent; ``stale`` when the version the writer read is not the record's."""

    code = "conflict"

    def __init__(
        self,
        message: str,
        current: dict[str, Any] | None = None,
        yours: dict[str, Any] | None = None,
        stale: bool = False,
    ):
        self.current = current
        self.yours = yours
        self.stale = stale
        super().__init__(message)


class MigrationRefused(AppLoomError):
    """A definition change that would lose data or cannot be applied to the store."""

    code = "migration_refused"


class BackupError(AppLoomError):
    """A backup that cannot be made, read, or restored where it was asked to; nothing was
    written. The message says why."""

    code = "backup"


class SandboxError(AppLoomError):
    """Code refused before it ran, or stopped while running; the message says why."""

    code = "sandbox"


class RuleError(AppLoomError):
    """An automation rule failed; the change that triggered it was rolled back."""

    code = "rule_failed"

    def __init__(self, message: str, run: dict | None = None):
        self.run = run  # the failed run, logged once the transaction is rolled back
        super().__init__(message)
