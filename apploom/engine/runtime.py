"""One running AppLoom: the database, the live apps and the services over them."""
from __future__ import annotations

from .attachments import Attachments
from .database import Database
from .definitions import load_apps
from .fieldtypes import FieldTypes
from .model import AppSet
from .records import RecordService
from .settings import Settings
from .transitions import Transitions
from .users import Users
from .versions import active_sources


class Runtime:
    def __init__(self, settings: Settings, db: Database, apps: AppSet, types: FieldTypes):
        self.settings = settings
        self.db = db
        self.apps = apps
        self.types = types
        self.records = RecordService(db, apps, types)
        self.transitions = Transitions(self.records)
        self.users = Users(db, apps.roles())
        self.attachments = Attachments(db, settings.attachments_path,
                                       settings.max_attachment_bytes, self.records)

    @classmethod
    def open(cls, settings: Settings, types: FieldTypes | None = None) -> Runtime:
        """Connect and load the live definitions stored in the database."""
        types = types or FieldTypes()
        settings.instance_path.mkdir(parents=True, exist_ok=True)
        db = Database(settings.database_url)
        with db.read() as conn:
            sources = active_sources(conn)
        return cls(settings, db, load_apps(sources, types) if sources else AppSet({}), types)

    def close(self) -> None:
        self.db.dispose()
