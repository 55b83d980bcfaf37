"""How domain values travel in stored events: real types in, real types out."""

from __future__ import annotations

import dataclasses
from datetime import date
from enum import Enum
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.values import (
    Actor,
    DeadlineAction,
    Decision,
    Document,
    EmployeeCategory,
    Gender,
    ProfileStatus,
    Role,
    UnitKind,
)


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class EnumAsValue(Transcoding):
    def __init__(self, enum: type[Enum]) -> None:
        self.type = enum
        self.name = enum.__name__

    def encode(self, obj: Enum) -> Any:
        return obj.value

    def decode(self, data: Any) -> Enum:
        return self.type(data)


class DataclassAsDict(Transcoding):
    def __init__(self, cls: type) -> None:
        self.type = cls
        self.name = cls.__name__
        self.fields = [f.name for f in dataclasses.fields(cls)]

    def encode(self, obj: Any) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in self.fields}

    def decode(self, data: dict[str, Any]) -> Any:
        return self.type(**data)


def register_domain_transcodings(transcoder: JSONTranscoder) -> None:
    transcoder.register(DateAsISO())
    for enum in (EmployeeCategory, UnitKind, Role, Gender, ProfileStatus, DeadlineAction):
        transcoder.register(EnumAsValue(enum))
    for cls in (Actor, Decision, Document):
        transcoder.register(DataclassAsDict(cls))
