"""The core as one object: settings, database, clock and the services built on them.

Built once by the composition root (`duban.runtime`) and handed to every channel and job."""

from __future__ import annotations

from config.settings import Settings
from core.calendar import WorkCalendar
from core.clock import Clock, SystemClock
from core.guidelines import Guidelines
from core.importing.importer import Importer
from core.invites import Invites
from core.outbox import OutboxSignal
from core.people import People
from core.targets import Targets
from core.tasks import Tasks
from core.threads import Threads
from storage.db import Database


class Core:
    def __init__(self, settings: Settings, db: Database, clock: Clock | None = None) -> None:
        self.settings = settings
        self.db = db
        self.clock: Clock = clock or SystemClock()
        self.outbox_signal = OutboxSignal()
        self.inbox_signal = OutboxSignal()  # the same wake-up, for the inbox worker
        self.calendar = WorkCalendar(settings.workdays_only)
        # Learnt from the Bot API at start-up; invite links need it.
        self.bot_username: str | None = None
        self.people = People(self)
        self.invites = Invites(self)
        self.tasks = Tasks(self)
        self.threads = Threads(self)
        self.guidelines = Guidelines(self)
        self.imports = Importer(self)
        self.targets = Targets(self)
