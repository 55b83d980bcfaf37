"""The exact bytes a signature covers: RFC 8785 JSON canonicalisation, then SHA-256."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

from domain.values import json_ready


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) bytes of a value; dates, decimals and enums become JSON strings first."""
    return rfc8785.dumps(json_ready(value))


def digest(value: Any) -> bytes:
    return hashlib.sha256(canonical_json(value)).digest()
