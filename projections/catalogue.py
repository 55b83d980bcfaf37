"""Every read model, in the order the projector applies them."""

from __future__ import annotations

from eventsourcing.utils import get_topic
from sqlalchemy import Engine

from domain.access import AccessRecord
from domain.application import Ledger
from projections.archive import Archive
from projections.audit import AuditTrail
from projections.database import serves
from projections.deadlines import DeadlineCompliance
from projections.framework import Helper, Projector, ReadModel
from projections.history import History
from projections.national_outbox import NationalOutbox
from projections.profiles import ProfileView
from projections.roster import Roster
from projections.units import UnitTree

READ_MODELS: tuple[type[ReadModel], ...] = (
    UnitTree,
    Roster,
    History,
    ProfileView,
    Archive,
    AuditTrail,
    DeadlineCompliance,
    NationalOutbox,
)
# On a long catch-up on PostgreSQL, a helper process projects these while the projector
# projects the others: about half of the work each.
HELPED: frozenset[str] = frozenset({History.name, AuditTrail.name, DeadlineCompliance.name})
# Events that change no read model but the audit trail: the reads of restricted values,
# exports and refusals that reads themselves record.
QUIET_TOPICS = (get_topic(AccessRecord.Recorded),)


def projector(ledger: Ledger, engine: Engine, page_size: int = 1000) -> Projector:
    helper = Helper(ledger.settings, HELPED) if serves(engine, ledger.settings) else None
    return Projector(
        ledger,
        engine,
        [cls(ledger) for cls in READ_MODELS],
        page_size=page_size,
        helper=helper,
        quiet_topics=QUIET_TOPICS,
    )
