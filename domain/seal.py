"""The ledger's seals: signed heads of the Merkle tree over its own event log.

There is one ``LedgerSeal`` aggregate per ledger, with a fixed id. Each ``Sealed`` event
records a signed tree head: the tree over the first ``tree_size`` records of the log, its
root (hex), when it was sealed, the signature over the head and the public key that checks
it. A seal is itself an event of the log, so the next seal covers it.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

SEAL_ID = uuid5(NAMESPACE_URL, "hoso:ledger-seal")


class LedgerSeal(Aggregate):
    @staticmethod
    def create_id() -> UUID:
        return SEAL_ID

    @event("Opened")
    def __init__(self) -> None:
        self.tree_size = 0
        self.root = ""
        self.sealed_at = ""
        self.seals = 0

    @event("Sealed")
    def record_seal(
        self,
        tree_size: int,
        root: str,
        sealed_at: str,
        signature: str,
        public_key_pem: str,
    ) -> None:
        self.tree_size = tree_size
        self.root = root
        self.sealed_at = sealed_at
        self.seals += 1
