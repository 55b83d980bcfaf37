"""The ledger application: one short method per command (load, call the domain, save)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder

from domain.access import AccessRecord
from domain.account import Account, PersonalAccountClaim, may_create_account
from domain.calendar import WorkingDayCalendar, calendar_from_settings
from domain.errors import (
    ConflictError,
    DuplicateAccount,
    DuplicateCitizenId,
    DuplicateUnitCode,
    NotFound,
    SignatureRequired,
)
from domain.field_cipher import KeyRing
from domain.field_mapper import FieldEncryptingMapper
from domain.jurisdiction import Jurisdiction, load_jurisdiction
from domain.profile import CitizenIdClaim, Profile
from domain.resume import GROUPS, FieldChange, clean_change, clean_entry, clean_record
from domain.settings import Settings
from domain.transcodings import register_domain_transcodings
from domain.unit import Unit
from domain.values import (
    Actor,
    Decision,
    Document,
    EmployeeCategory,
    Role,
    UnitKind,
    json_ready,
)


class Ledger(Application[UUID]):
    name = "hoso"
    snapshotting_intervals = {Profile: 50, Unit: 50}  # noqa: RUF012

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Callable[[], date] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.jurisdiction: Jurisdiction = load_jurisdiction(self.settings.jurisdiction)
        self.calendar: WorkingDayCalendar = calendar_from_settings(
            _dates(self.settings.extra_days_off), _dates(self.settings.extra_working_days)
        )
        self.today: Callable[[], date] = clock or self.calendar.today
        super().__init__(env=self.settings.eventsourcing_env())

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        recordings = super().save(*objs, **kwargs)
        # What was just stored is the newest state: keep it in the cache, so the next load
        # does not decode these events again (loads still read what others stored since).
        # Records of access are never loaded again: kept, they would only crowd the cache.
        if self.repository.cache is not None:
            for obj in objs:
                if isinstance(obj, Aggregate) and not isinstance(obj, AccessRecord):
                    self.repository.cache.put(obj.id, obj)
        return recordings

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        # The library re-reads each aggregate from the store to snapshot it; the aggregate
        # just saved is in memory at its new version already, so snapshot that instead.
        versions: dict[Any, list[int]] = {}  # by aggregate: one pass, however many are saved
        for e in processing_event.events:
            versions.setdefault(e.originator_id, []).append(e.originator_version)
        for aggregate in processing_event.aggregates.values():
            interval = self.snapshotting_intervals.get(type(aggregate))
            if interval is None or self.snapshots is None:
                continue
            crossed = any(v % interval == 0 for v in versions.get(aggregate.id, ()))
            if crossed:
                self.snapshots.put([type(aggregate).Snapshot.take(aggregate)])

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_domain_transcodings(transcoder)

    def construct_mapper(self) -> FieldEncryptingMapper:
        # Restricted field values are encrypted one by one in every stored event and
        # snapshot, with the keys of the configured key file (see domain.field_cipher).
        self.field_keys = KeyRing.for_settings(self.settings)
        return FieldEncryptingMapper(
            self.construct_transcoder(),
            compressor=self.factory.compressor(),
            cipher=self.factory.cipher(),
            keys=self.field_keys,
        )

    def citizen_id_claim(self, citizen_id: str, profile_id: UUID) -> CitizenIdClaim:
        """The claim of a citizen ID by a profile. It is keyed by an HMAC of the number
        (a key never rotated): a digest anyone could recompute for each of the 10^12
        numbers would give the number back."""
        return CitizenIdClaim(citizen_id=self.field_keys.lookup(citizen_id), profile_id=profile_id)

    # -- loading and saving --------------------------------------------------------------

    def unit(self, code: str) -> Unit:
        try:
            unit: Unit = self.repository.get(Unit.create_id(code.strip().upper()))
        except AggregateNotFoundError:
            raise NotFound(f"no unit with code {code}") from None
        return unit

    def profile(self, profile_id: UUID | str, version: int | None = None) -> Profile:
        try:
            profile: Profile = self.repository.get(_uuid(profile_id), version=version)
        except AggregateNotFoundError:
            raise NotFound(f"no profile {profile_id}") from None
        if not isinstance(profile, Profile):
            raise NotFound(f"no profile {profile_id}")
        if version is not None and profile.version < version:
            raise NotFound(f"profile {profile_id} has {profile.version} versions, not {version}")
        return profile

    def citizen_ids_taken(self, citizen_ids: Iterable[str]) -> set[str]:
        """Which of the citizen IDs have a profile already (checked in bulk, undecoded)."""
        return {
            citizen_id
            for citizen_id in citizen_ids
            if self.recorder.select_events(
                CitizenIdClaim.create_id(self.field_keys.lookup(citizen_id)), limit=1
            )
        }

    def profile_id_for_citizen(self, citizen_id: str) -> UUID:
        try:
            claim: CitizenIdClaim = self.repository.get(
                CitizenIdClaim.create_id(self.field_keys.lookup(citizen_id))
            )
        except AggregateNotFoundError:
            raise NotFound(f"no profile with citizen ID {citizen_id}") from None
        return claim.profile_id

    def find_profile_id(self, key: str) -> UUID:
        """A profile by its id or by its 12-digit citizen ID."""
        key = key.strip()
        if key.isdigit() and len(key) == 12:
            return self.profile_id_for_citizen(key)
        return self.profile(key).id

    def _load_for_command(self, profile_id: UUID | str, expected_version: int | None) -> Profile:
        profile = self.profile(profile_id)
        if expected_version is not None and expected_version != profile.version:
            raise ConflictError(f"profile {profile.id}", expected_version, profile.version)
        return profile

    def approval_chain(self, unit_code: str) -> list[dict[str, Any]]:
        kind = self.unit(unit_code).kind
        return [
            {"role": level.role.value, "working_days": level.working_days}
            for level in self.jurisdiction.approval_chain(kind)
        ]

    def _request_approval(self, profile: Profile, actor: Actor) -> None:
        """Where the jurisdiction approves by digital signature, the record just written (a
        change set, a new profile, a transition) waits for its chain of signers."""
        if not self.jurisdiction.digital_signature_required:
            return
        event = profile.pending_events[-1]
        name = type(event).__name__
        if name == "ChangeProposed":
            item_id = event.change_set_id  # type: ignore[attr-defined]
        else:
            item_id = profile.record_item_id(event.originator_version)
        skip = {"originator_id", "originator_version", "timestamp", "originator_topic", "actor"}
        subject = {
            "event": name,
            "version": event.originator_version,
            **{k: json_ready(v) for k, v in event.__dict__.items() if k not in skip},
        }
        profile.request_approval(
            item_id,
            subject=subject,
            chain=self.approval_chain(profile.unit_code),
            effective_date=event.effective_date,  # type: ignore[attr-defined]
            actor=actor,
        )

    def commit(self, *aggregates: Aggregate, expected: int | None = None) -> None:
        try:
            self.save(*aggregates)
        except IntegrityError:
            # Another command saved the same aggregate first.
            first = aggregates[0]
            current = self.repository.get(first.id).version
            raise ConflictError(
                f"{type(first).__name__.lower()} {first.id}", expected, current
            ) from None

    # -- units -------------------------------------------------------------------------------

    def create_unit(
        self,
        code: str,
        name: str,
        kind: UnitKind,
        parent_code: str | None,
        *,
        actor: Actor,
        effective_date: date | None = None,
        decision: Decision | None = None,
    ) -> str:
        parent = self.unit(parent_code) if parent_code else None
        unit = Unit.create(
            code,
            name,
            kind,
            parent,
            actor=actor,
            decision=decision,
            effective_date=effective_date or self.today(),
        )
        try:
            self.save(unit)
        except IntegrityError:
            raise DuplicateUnitCode(f"unit code {unit.code} is already taken") from None
        return unit.code

    def rename_unit(
        self,
        code: str,
        name: str,
        *,
        actor: Actor,
        effective_date: date,
        decision: Decision | None = None,
    ) -> None:
        unit = self.unit(code)
        unit.rename(name, effective_date=effective_date, decision=decision, actor=actor)
        self.commit(unit)

    def ancestors(self, code: str) -> list[str]:
        codes: list[str] = []
        unit = self.unit(code)
        while unit.parent_code is not None and unit.parent_code not in codes:
            codes.append(unit.parent_code)
            unit = self.unit(unit.parent_code)
        return codes

    def move_unit(
        self,
        code: str,
        parent_code: str,
        *,
        actor: Actor,
        effective_date: date,
        decision: Decision | None = None,
    ) -> None:
        unit, parent = self.unit(code), self.unit(parent_code)
        unit.move_under(
            parent,
            self.ancestors(parent.code),
            effective_date=effective_date,
            decision=decision,
            actor=actor,
        )
        self.commit(unit)

    def merge_unit(
        self, code: str, into_code: str, *, actor: Actor, effective_date: date, decision: Decision
    ) -> None:
        unit = self.unit(code)
        unit.merge_into(
            self.unit(into_code), effective_date=effective_date, decision=decision, actor=actor
        )
        self.commit(unit)

    def dissolve_unit(
        self, code: str, *, actor: Actor, effective_date: date, decision: Decision
    ) -> None:
        unit = self.unit(code)
        unit.dissolve(effective_date=effective_date, decision=decision, actor=actor)
        self.commit(unit)

    def set_staffing_quota(
        self,
        code: str,
        year: int,
        category: EmployeeCategory,
        headcount: int,
        *,
        actor: Actor,
        decision: Decision | None = None,
    ) -> None:
        unit = self.unit(code)
        unit.set_staffing_quota(year, category, headcount, decision=decision, actor=actor)
        self.commit(unit)

    # -- profiles ----------------------------------------------------------------------------

    def build_profile(
        self,
        record: Mapping[str, Any],
        *,
        decision: Decision,
        actor: Actor,
        origin: str = "recruitment",
        origin_note: str = "",
        profile_id: UUID | None = None,
    ) -> tuple[Profile, CitizenIdClaim]:
        """A new profile and its citizen-ID claim, checked but not yet saved."""
        cleaned = clean_record(record)
        unit = self.unit(cleaned["employment"]["unit_code"])
        profile = Profile.open(
            cleaned,
            unit,
            decision=decision,
            actor=actor,
            today=self.today(),
            origin=origin,
            origin_note=origin_note,
            profile_id=profile_id,
        )
        return profile, self.citizen_id_claim(profile.citizen_id, profile.id)

    def open_profile(
        self,
        record: Mapping[str, Any],
        *,
        decision: Decision,
        actor: Actor,
        origin: str = "recruitment",
        origin_note: str = "",
    ) -> UUID:
        profile, claim = self.build_profile(
            record, decision=decision, actor=actor, origin=origin, origin_note=origin_note
        )
        try:
            self.save(profile, claim)
        except IntegrityError:
            raise DuplicateCitizenId(
                f"citizen ID {profile.citizen_id} already has a profile"
            ) from None
        return profile.id

    def propose_change(
        self,
        profile_id: UUID | str,
        changes: Iterable[tuple[str, Any]],
        *,
        reason: str,
        effective_date: date,
        actor: Actor,
        documents: Sequence[Document] = (),
        expected_version: int | None = None,
    ) -> str:
        profile = self._load_for_command(profile_id, expected_version)
        field_changes: list[FieldChange] = [clean_change(path, value) for path, value in changes]
        change_set_id = profile.propose_change(
            field_changes,
            reason=reason,
            effective_date=effective_date,
            documents=list(documents),
            actor=actor,
            today=self.today(),
            document_required_for_self_service=self.jurisdiction.change_requires_document,
        )
        self._request_approval(profile, actor)
        self.commit(profile, expected=expected_version)
        return change_set_id

    def approve_change(
        self,
        profile_id: UUID | str,
        change_set_id: str,
        *,
        actor: Actor,
        decision: Decision | None = None,
        expected_version: int | None = None,
    ) -> None:
        if self.jurisdiction.digital_signature_required:
            raise SignatureRequired(
                f"{self.jurisdiction.name}: changes are approved by the digital signatures "
                "of the approval chain"
            )
        profile = self._load_for_command(profile_id, expected_version)
        profile.approve_change(change_set_id, actor=actor, today=self.today(), decision=decision)
        self.commit(profile, expected=expected_version)

    def reject_change(
        self,
        profile_id: UUID | str,
        change_set_id: str,
        *,
        reason: str,
        actor: Actor,
        expected_version: int | None = None,
    ) -> None:
        profile = self._load_for_command(profile_id, expected_version)
        profile.reject_change(change_set_id, reason=reason, actor=actor)
        self.commit(profile, expected=expected_version)

    def move_within_unit(
        self,
        profile_id: UUID | str,
        *,
        department: str,
        position: str,
        effective_date: date,
        decision: Decision,
        actor: Actor,
        expected_version: int | None = None,
    ) -> None:
        profile = self._load_for_command(profile_id, expected_version)
        profile.move_within_unit(
            department=department,
            position=position,
            effective_date=effective_date,
            decision=decision,
            actor=actor,
        )
        self._request_approval(profile, actor)
        self.commit(profile, expected=expected_version)

    def release_transfer(
        self,
        profile_id: UUID | str,
        to_unit_code: str,
        *,
        effective_date: date,
        decision: Decision,
        actor: Actor,
        expected_version: int | None = None,
    ) -> None:
        profile = self._load_for_command(profile_id, expected_version)
        profile.release_transfer(
            self.unit(to_unit_code), effective_date=effective_date, decision=decision, actor=actor
        )
        self._request_approval(profile, actor)
        self.commit(profile, expected=expected_version)

    def receive_transfer(
        self,
        profile_id: UUID | str,
        unit_code: str,
        *,
        department: str,
        position: str,
        effective_date: date,
        decision: Decision,
        actor: Actor,
        expected_version: int | None = None,
    ) -> None:
        profile = self._load_for_command(profile_id, expected_version)
        profile.receive_transfer(
            self.unit(unit_code),
            department=department,
            position=position,
            effective_date=effective_date,
            decision=decision,
            actor=actor,
        )
        self._request_approval(profile, actor)
        self.commit(profile, expected=expected_version)

    def transfer_out_of_system(
        self,
        profile_id: UUID | str,
        *,
        destination: str,
        effective_date: date,
        decision: Decision,
        actor: Actor,
        expected_version: int | None = None,
    ) -> None:
        profile = self._load_for_command(profile_id, expected_version)
        profile.transfer_out_of_system(
            destination=destination, effective_date=effective_date, decision=decision, actor=actor
        )
        self._request_approval(profile, actor)
        self.commit(profile, expected=expected_version)

    def start_secondment(
        self,
        profile_id: UUID | str,
        *,
        host: str,
        until: date | None,
        effective_date: date,
        decision: Decision,
        actor: Actor,
        expected_version: int | None = None,
    ) -> None:
        profile = self._load_for_command(profile_id, expected_version)
        profile.start_secondment(
            host=host, until=until, effective_date=effective_date, decision=decision, actor=actor
        )
        self._request_approval(profile, actor)
        self.commit(profile, expected=expected_version)

    def end_secondment(
        self,
        profile_id: UUID | str,
        *,
        effective_date: date,
        decision: Decision,
        actor: Actor,
        expected_version: int | None = None,
    ) -> None:
        profile = self._load_for_command(profile_id, expected_version)
        profile.end_secondment(effective_date=effective_date, decision=decision, actor=actor)
        self._request_approval(profile, actor)
        self.commit(profile, expected=expected_version)

    def retire(
        self,
        profile_id: UUID | str,
        *,
        effective_date: date,
        decision: Decision,
        actor: Actor,
        expected_version: int | None = None,
    ) -> None:
        profile = self._load_for_command(profile_id, expected_version)
        profile.retire(effective_date=effective_date, decision=decision, actor=actor)
        self._request_approval(profile, actor)
        self.commit(profile, expected=expected_version)

    def resign(
        self,
        profile_id: UUID | str,
        *,
        effective_date: date,
        decision: Decision,
        actor: Actor,
        expected_version: int | None = None,
    ) -> None:
        profile = self._load_for_command(profile_id, expected_version)
        profile.resign(effective_date=effective_date, decision=decision, actor=actor)
        self._request_approval(profile, actor)
        self.commit(profile, expected=expected_version)

    def dismiss(
        self,
        profile_id: UUID | str,
        *,
        reason: str,
        effective_date: date,
        decision: Decision,
        actor: Actor,
        expected_version: int | None = None,
    ) -> None:
        profile = self._load_for_command(profile_id, expected_version)
        profile.dismiss(
            reason=reason, effective_date=effective_date, decision=decision, actor=actor
        )
        self._request_approval(profile, actor)
        self.commit(profile, expected=expected_version)

    def record_death(
        self,
        profile_id: UUID | str,
        *,
        date_of_death: date,
        decision: Decision,
        actor: Actor,
        expected_version: int | None = None,
    ) -> None:
        profile = self._load_for_command(profile_id, expected_version)
        profile.record_death(
            date_of_death=date_of_death, decision=decision, actor=actor, today=self.today()
        )
        self._request_approval(profile, actor)
        self.commit(profile, expected=expected_version)

    def rehire(
        self,
        profile_id: UUID | str,
        unit_code: str,
        *,
        employment: Mapping[str, Any],
        effective_date: date,
        decision: Decision,
        actor: Actor,
        origin: str = "recruitment",
        expected_version: int | None = None,
    ) -> None:
        """A new employment period on the same profile; ``origin="arrival"`` for a person
        who comes back from outside the system."""
        profile = self._load_for_command(profile_id, expected_version)
        values = {**employment, "unit_code": unit_code, "start_date": effective_date}
        cleaned = clean_entry(GROUPS["employment"], values, partial=False)
        profile.rehire(
            self.unit(unit_code),
            employment=cleaned,
            effective_date=effective_date,
            decision=decision,
            actor=actor,
            today=self.today(),
            origin=origin,
        )
        self._request_approval(profile, actor)
        self.commit(profile, expected=expected_version)

    # -- accounts ------------------------------------------------------------------------------

    def account(self, username: str) -> Account:
        try:
            account: Account = self.repository.get(Account.create_id(username.strip().lower()))
        except AggregateNotFoundError:
            raise NotFound(f"no account {username}") from None
        return account

    def create_account(
        self,
        username: str,
        display_name: str,
        kind: str,
        unit_code: str,
        *,
        actor: Actor,
        profile_id: str | None = None,
        temporary_password_hash: str | None = None,
    ) -> str:
        """A new account; a personal account claims its person's profile, so that a person
        has one personal account at a time. With ``temporary_password_hash`` the holder logs
        in with that password once and must change it."""
        self.unit(unit_code).require_active()
        if profile_id is not None:
            profile_id = str(self.profile(profile_id).id)
        account = Account.open(
            username,
            display_name,
            kind,
            self.unit(unit_code).code,
            actor=actor,
            profile_id=profile_id,
        )
        if temporary_password_hash is not None:
            account.reset_password(temporary_password_hash, actor=actor)
        claim = self._personal_claim(account) if kind == "personal" else None
        try:
            self.save(account, *([claim] if claim else []))
        except IntegrityError:
            if self._exists(Account.create_id(account.username)):
                raise DuplicateAccount(f"account {account.username} already exists") from None
            raise DuplicateAccount(f"profile {profile_id} has a personal account already") from None
        return account.username

    def _claim_of(self, profile_id: UUID | str) -> PersonalAccountClaim | None:
        try:
            claim: PersonalAccountClaim = self.repository.get(
                PersonalAccountClaim.create_id(str(profile_id))
            )
        except AggregateNotFoundError:
            return None
        return claim

    def _personal_claim(self, account: Account) -> PersonalAccountClaim:
        assert account.profile_id is not None
        claim = self._claim_of(account.profile_id)
        if claim is None:
            return PersonalAccountClaim(profile_id=account.profile_id, username=account.username)
        if claim.username is not None:
            raise DuplicateAccount(
                f"profile {account.profile_id} has a personal account already: {claim.username}"
            )
        claim.reclaim(account.username)
        return claim

    def _exists(self, aggregate_id: UUID) -> bool:
        try:
            self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return False
        return True

    def personal_account(self, profile_id: UUID | str) -> str | None:
        """The username of the person's personal account, if there is one."""
        claim = self._claim_of(profile_id)
        return claim.username if claim is not None else None

    def may_create_account(self, roles: Iterable[Role], kind: str) -> bool:
        """Whether a creator holding ``roles`` may create an account of ``kind`` under this
        jurisdiction's account policy."""
        return may_create_account(self.jurisdiction.accounts, roles, kind)

    def grant_role(
        self,
        username: str,
        role: Role,
        unit_code: str,
        *,
        valid_from: date,
        actor: Actor,
        valid_until: date | None = None,
    ) -> str:
        account = self.account(username)
        unit = self.unit(unit_code)
        unit.require_active()
        grant_id = account.grant(
            role, unit.code, valid_from=valid_from, valid_until=valid_until, actor=actor
        )
        self.commit(account)
        return grant_id

    def end_grant(self, username: str, grant_id: str, *, ended_on: date, actor: Actor) -> None:
        account = self.account(username)
        account.end_grant(grant_id, ended_on=ended_on, actor=actor)
        self.commit(account)

    def restrict_grant(
        self,
        username: str,
        grant_id: str,
        *,
        actor: Actor,
        valid_until: date | None = None,
        unit_code: str | None = None,
    ) -> None:
        """End a grant earlier, or narrow it to a unit below its own."""
        account = self.account(username)
        ancestors: list[str] = []
        if unit_code is not None:
            unit = self.unit(unit_code)
            unit.require_active()
            unit_code, ancestors = unit.code, self.ancestors(unit.code)
        account.restrict_grant(
            grant_id,
            valid_until=valid_until,
            unit_code=unit_code,
            unit_ancestors=ancestors,
            actor=actor,
        )
        self.commit(account)

    def extend_grant(
        self, username: str, grant_id: str, *, valid_until: date | None, actor: Actor
    ) -> None:
        account = self.account(username)
        account.extend_grant(grant_id, valid_until=valid_until, actor=actor)
        self.commit(account)

    def set_password(self, username: str, password_hash: str, *, actor: Actor) -> None:
        account = self.account(username)
        account.set_password(password_hash, actor=actor)
        self.commit(account)

    def reset_password(self, username: str, temporary_hash: str, *, actor: Actor) -> None:
        account = self.account(username)
        account.reset_password(temporary_hash, actor=actor)
        self.commit(account)

    def enroll_totp(self, username: str, secret: str, *, actor: Actor) -> None:
        account = self.account(username)
        account.enroll_totp(secret, actor=actor)
        self.commit(account)

    def lock_account(self, username: str, reason: str, *, actor: Actor) -> None:
        account = self.account(username)
        account.lock(reason, actor=actor)
        self.commit(account)

    def unlock_account(self, username: str, *, actor: Actor) -> None:
        account = self.account(username)
        account.unlock(actor=actor)
        self.commit(account)

    def revoke_account(self, username: str, *, actor: Actor, reason: str = "") -> None:
        """Close the account today: no login and no grant from today on; a personal
        account's person may be given a new one."""
        account = self.account(username)
        account.revoke(on=self.today(), reason=reason, actor=actor)
        released: list[PersonalAccountClaim] = []
        if account.kind == "personal" and account.profile_id is not None:
            claim = self._claim_of(account.profile_id)
            if claim is not None and claim.username == account.username:
                claim.release()
                released.append(claim)
        self.commit(account, *released)

    def authority_problem(self, username: str, role: Role, unit_code: str, day: date) -> str | None:
        """Why an account could not act as ``role`` for ``unit_code`` on ``day``, as the
        ledger's own history shows; None when it could."""
        try:
            account = self.account(username)
        except NotFound as exc:
            return exc.message
        scope = {unit_code, *self.ancestors(unit_code)}
        grants = [g for g in account.grants_on(day, role) if g["unit_code"] in scope]
        if not grants:
            return f"{username} held no {role.value} role for {unit_code} on {day.isoformat()}"
        if account.profile_id is not None:
            then = self.profile_as_of(account.profile_id, day)
            if then is None or then.status.departed or then.status.value == "released":
                return f"{username} was not on staff on {day.isoformat()}"
            here = {g["unit_code"] for g in grants}
            if not ({then.unit_code, *self.ancestors(then.unit_code)} & here):
                return (
                    f"{username} worked in {then.unit_code} on {day.isoformat()}, not in "
                    f"{', '.join(sorted(here))}"
                )
        return None

    def record_access(
        self,
        kind: str,
        resource: str,
        *,
        actor: Actor,
        profile_id: str | None = None,
        fields: Sequence[str] = (),
        basis: str = "",
    ) -> None:
        """A read of restricted values, an export or a refused attempt, for the audit."""
        self.save(
            AccessRecord(
                kind=kind,
                resource=resource,
                profile_id=profile_id,
                fields=list(fields),
                basis=basis,
                actor=actor,
            )
        )

    # -- reading -----------------------------------------------------------------------------

    def profile_events(self, profile_id: UUID | str) -> list[Aggregate.Event]:
        return list(self.repository.event_store.get(_uuid(profile_id)))

    def profile_as_of(self, profile_id: UUID | str, day: date) -> Profile | None:
        """The record as it stood on a business date: events effective later are left out."""
        return record_as_of(self.profile_events(profile_id), day)


def record_as_of(events: Iterable[Aggregate.Event], day: date) -> Profile | None:
    profile: Profile | None = None
    for event in events:
        effective = getattr(event, "effective_date", None)
        if profile is None:
            if effective is not None and effective > day:
                return None
            profile = event.mutate(None)  # type: ignore[assignment]
        elif effective is None or effective <= day:
            profile = event.mutate(profile)  # type: ignore[assignment]
        else:
            profile.version = event.originator_version  # skipped, but keep the sequence
    return profile


def _uuid(value: UUID | str) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(value)
    except ValueError:
        raise NotFound(f"no profile {value}") from None


def _dates(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


SYSTEM = Actor(account="system", role=Role.SYSTEM, unit_code="")
