"""Property-based tests of the whole HTTP API from its OpenAPI document, on SQLite and
PostgreSQL: every operation, called with the examples of the document, with generated input
and with generated invalid input, as the Department of Home Affairs of the province (a
bearer token made from a real login with password and TOTP). No answer may be a server
error; answers to valid input must also keep to the response schema, media type and
statuses the document gives.

The store holds the unit tree of the examples (UBND > SNV, STC > STC.NS) with people in
it, so that examples reach real units and profiles and not only 404s. Generation is
derandomized and bounded per operation, so that a run is repeatable and short.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.python.asgi import ASGIClient
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.auth import AuthStore
from domain.settings import Settings
from domain.values import Role
from tests.api_helpers import cheap_argon2, log_in_as, make_account
from tests.builders import person, unit_tree
from tests.conftest import HR, decision

HOME = "home.affairs"
LOGOUT = "/api/auth/logout"
GENERATED = 15  # generated cases per operation
INVALID = 8  # cases of invalid input per operation: never a server error
EXAMPLES = 5  # cases drawn from the examples of the document
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
CONFIG = {"seed": 20261120, "generation": {"deterministic": True, "database": "none"}}


@dataclass
class Target:
    client: ASGIClient  # calls the app in the process, without starting it a second time
    store: AuthStore
    headers: dict[str, str]

    def fresh_token(self) -> dict[str, str]:
        token, _ = self.store.issue(HOME, "bearer", timedelta(hours=1), name="logout")
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def target(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[schemathesis.BaseSchema, Target]]:
    cheap_argon2(monkeypatch)
    monkeypatch.delenv("HOSO_KEYSTORE_PASSPHRASE", raising=False)  # résumés unsigned
    # Generated logins and password changes fail by the hundred: neither the account nor
    # the test client's address is to be locked out by them here.
    monkeypatch.setenv("HOSO_ACCOUNT_FAILURES_LOCK", "1000000")
    monkeypatch.setenv("HOSO_ADDRESS_FAILURES", "1000000")
    app = create_app(make_settings())
    with TestClient(app) as client:
        ledger = app.state.services.ledger
        unit_tree(ledger)
        for number, unit_code in enumerate(("SNV", "SNV", "STC", "STC.NS")):
            ledger.open_profile(
                person(f"00108500{number:04d}", unit_code=unit_code),
                decision=decision(),
                actor=HR,
            )
        account = make_account(ledger, HOME, Role.HOME_AFFAIRS, "UBND")
        session = log_in_as(client, account)
        made = client.post("/api/auth/tokens", json={"name": "fuzz", "days": 1}, headers=session)
        assert made.status_code == 201, made.text
        document = client.get("/openapi.json").json()
        schema = schemathesis.openapi.from_dict(
            document, config=schemathesis.Config.from_dict(CONFIG)
        )
        schema.app = app
        found = Target(
            ASGIClient(app),  # type: ignore[arg-type]
            app.state.auth,
            {"Authorization": f"Bearer {made.json()['token']}"},
        )
        yield schema, found


def examples_of(api: schemathesis.BaseSchema, operation: schemathesis.APIOperation) -> list[Any]:
    return list(api.get_strategies_from_examples(operation))


def property_test(
    caller: Target, strategy: Any, budget: int, checks: list[Any], calls: list[int]
) -> Callable[[], None]:
    """A Hypothesis test calling the app with each case of ``strategy`` and validating the
    answer with ``checks``."""

    @settings(
        max_examples=budget,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def call(case: schemathesis.Case) -> None:
        calls[0] += 1
        # Logging out ends the credential used: each logout ends one of its own.
        headers = caller.fresh_token() if case.path == LOGOUT else caller.headers
        case.call_and_validate(session=caller.client, headers=headers, checks=checks)

    return call  # type: ignore[no-any-return]


def test_the_api_keeps_to_its_openapi_document(
    target: tuple[schemathesis.BaseSchema, Target],
) -> None:
    api, caller = target
    failures: list[str] = []
    operations = 0
    calls = [0]
    for result in api.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        operations += 1
        kinds: list[tuple[str, Any, int, list[Any]]] = [
            ("generated", operation.as_strategy(), GENERATED, CHECKS),
            (
                "invalid",
                operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
                INVALID,
                [not_a_server_error],
            ),
        ]
        examples = examples_of(api, operation)
        if examples:
            kinds.append(("examples", st.one_of(examples), EXAMPLES, CHECKS))
        for name, strategy, budget, checks in kinds:
            try:
                property_test(caller, strategy, budget, checks, calls)()
            except Unsatisfiable:
                # Nothing of the operation's input can be made invalid (a path of free text).
                assert name == "invalid", operation.label
            except (Exception, BaseExceptionGroup) as exc:  # one per operation and input kind
                failures.append(f"{operation.label} ({name}): {exc}")
    assert operations >= 50
    assert not failures, f"{len(failures)} of {operations} operations ({calls[0]} calls):\n" + (
        "\n\n".join(failures)
    )
