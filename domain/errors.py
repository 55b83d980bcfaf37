"""Errors the domain raises. Each has a stable machine code and a clear message."""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    code = "invalid_input"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class NotFound(DomainError):
    code = "not_found"


class DuplicateCitizenId(DomainError):
    code = "duplicate_citizen_id"


class DuplicateAccount(DomainError):
    code = "duplicate_account"


class DuplicateUnitCode(DomainError):
    code = "duplicate_unit_code"


class TransitionNotAllowed(DomainError):
    code = "transition_not_allowed"


class UnitNotActive(DomainError):
    code = "unit_not_active"


class ChangeSetNotPending(DomainError):
    code = "change_set_not_pending"


class SignatureRequired(DomainError):
    code = "signature_required"


class SignatureRefused(DomainError):
    """A signature that does not hold: the reason says which check failed."""

    code = "signature_refused"


class ConflictError(DomainError):
    """The command was based on a version that is no longer current."""

    code = "version_conflict"

    def __init__(self, aggregate: str, expected: int | None, current: int) -> None:
        super().__init__(
            f"{aggregate} was changed meanwhile: the command was based on version "
            f"{expected}, the current version is {current}; reload and try again"
        )
        self.expected = expected
        self.current = current
