"""Answers kept per generation of the read models (``api.deps.Kept``), the roster pages the
API keeps in it, and the generation ``Services.current`` gives: the position of the last
change in the log, records of access left out.

A kept page is served only while the log gains no change: after a command the page shows
it; a read of restricted values (an access record, a change of the audit trail alone)
keeps the pages. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from eventsourcing.utils import get_topic
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.deps import Kept, Services
from domain.access import AccessRecord
from domain.application import Ledger
from domain.settings import Settings
from domain.values import Actor, Role
from projections.database import read_model_engine
from projections.framework import Projector
from signing.approvals import Approvals
from tests.api_helpers import TestAccount, auth_client, cheap_argon2, log_in_as, make_account
from tests.builders import ADMIN, person, unit_tree
from tests.conftest import HR, decision
from tests.test_roster_api import hire, transfer_an_to_stc_ns

ACCESS_TOPIC = get_topic(AccessRecord.Recorded)

# -- Kept, on its own ----------------------------------------------------------------------


def test_an_answer_put_under_a_generation_is_found_under_it() -> None:
    kept = Kept(4)
    assert kept.get(7, "a") is None
    kept.put(7, "a", b"page a")
    assert kept.get(7, "a") == b"page a"
    assert kept.get(7, "a") == b"page a"
    assert kept.get(7, "b") is None  # another key
    assert (kept.hits, kept.misses) == (2, 2)


def test_another_generation_misses_and_a_newer_one_empties_it() -> None:
    kept = Kept(4)
    kept.put(7, "a", b"at 7")
    assert kept.get(8, "a") is None  # the log has gained a change since
    assert kept.get(6, "a") is None  # an older generation is not served a newer answer
    assert kept.get(7, "a") == b"at 7"
    kept.put(8, "b", b"b at 8")
    assert kept.get(7, "a") is None  # emptied by the newer generation
    assert kept.get(8, "a") is None
    assert kept.get(8, "b") == b"b at 8"
    kept.put(8, "a", b"a at 8")
    assert kept.get(8, "a") == b"a at 8"
    assert (kept.hits, kept.misses) == (3, 4)


def test_an_older_generations_answer_after_a_newer_one_is_ignored() -> None:
    kept = Kept(4)
    kept.put(9, "a", b"a at 9")
    # Computed by a slower request, before the change the newer one has seen.
    kept.put(8, "a", b"stale a")
    kept.put(8, "b", b"stale b")
    assert kept.get(9, "a") == b"a at 9"
    assert kept.get(9, "b") is None
    assert kept.get(8, "a") is None
    assert kept.get(8, "b") is None


def test_no_generation_keeps_nothing() -> None:
    kept = Kept(4)
    kept.put(None, "a", b"a")
    assert kept.get(None, "a") is None
    kept.put(3, "a", b"a at 3")
    kept.put(None, "a", b"unknown generation")
    assert kept.get(3, "a") == b"a at 3"  # left as it was
    assert kept.get(None, "a") is None


def test_size_0_keeps_nothing() -> None:
    kept = Kept(0)
    for generation in (1, 1, 2):
        kept.put(generation, "a", b"a")
        assert kept.get(generation, "a") is None
    assert (kept.hits, kept.misses) == (0, 3)


def test_when_full_the_oldest_answer_goes() -> None:
    kept = Kept(2)
    kept.put(5, "a", b"a")
    kept.put(5, "b", b"b")
    kept.put(5, "c", b"c")
    assert kept.get(5, "a") is None
    assert kept.get(5, "b") == b"b"
    assert kept.get(5, "c") == b"c"
    kept.put(5, "d", b"d")
    assert kept.get(5, "b") is None
    assert [kept.get(5, key) for key in ("c", "d")] == [b"c", b"d"]


def test_an_answer_put_again_is_replaced_and_takes_no_more_room() -> None:
    kept = Kept(2)
    kept.put(5, "a", b"a1")
    kept.put(5, "b", b"b")
    kept.put(5, "a", b"a2")
    assert kept.get(5, "a") == b"a2"
    assert kept.get(5, "b") == b"b"


# -- Services.current: the generation, and what counts as current ---------------------------


@pytest.fixture
def services(
    ledger: Ledger, projector: Projector, make_settings: Callable[..., Settings]
) -> Iterator[Services]:
    """Services over the test's store, with no follower: only ``current`` catches up."""
    reader = read_model_engine(make_settings())
    yield Services(ledger, projector, reader, Approvals(ledger))
    reader.dispose()


def head(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


def record_read(ledger: Ledger) -> None:
    actor = Actor(account="hr.snv", role=Role.HR_OFFICER, unit_code="SNV")
    ledger.record_access("restricted_read", "/api/profiles/x", actor=actor, fields=["health"])


def reached(projector: Projector) -> set[int]:
    """The positions the read models have applied, per their tracking rows."""
    return set(projector.positions().values())


def test_current_gives_the_position_of_the_last_change(
    ledger: Ledger, projector: Projector, services: Services
) -> None:
    assert services.current() == 0  # an empty log: no change yet
    unit_tree(ledger)
    changed = head(ledger)
    assert services.current() == changed
    assert reached(projector) == {changed}  # caught up by the request itself
    assert services.current() == changed  # nothing new: the same generation


def test_read_models_behind_by_access_records_only_are_current(
    ledger: Ledger, projector: Projector, services: Services
) -> None:
    unit_tree(ledger)
    changed = head(ledger)
    assert services.current() == changed
    record_read(ledger)
    record_read(ledger)
    assert head(ledger) == changed + 2
    topics = [n.topic for n in ledger.recorder.select_notifications(changed + 1, 10)]
    assert topics == [ACCESS_TOPIC, ACCESS_TOPIC]

    # Behind the log by two access records: current, not caught up, the same generation.
    assert services.current() == changed
    assert reached(projector) == {changed}
    # For the audit trail they count: the request catches up, the generation stays.
    assert services.current(audit=True) == changed
    assert reached(projector) == {changed + 2}


def test_a_change_behind_access_records_is_caught_up(
    ledger: Ledger, projector: Projector, services: Services
) -> None:
    unit_tree(ledger)
    first = head(ledger)
    assert services.current() == first
    record_read(ledger)
    ledger.rename_unit("SNV", "Sở Nội vụ tỉnh", actor=ADMIN, effective_date=date(2025, 1, 1))
    renamed = head(ledger)
    record_read(ledger)
    record_read(ledger)
    assert head(ledger) == renamed + 2

    # The rename is a change: the read models catch up, at least to it.
    assert services.current() == renamed
    assert min(reached(projector)) >= renamed
    found = services.units().get("SNV")
    assert found is not None and found["name"] == "Sở Nội vụ tỉnh"
    # A change as the last event: the same.
    ledger.rename_unit("STC", "Sở Tài chính tỉnh", actor=ADMIN, effective_date=date(2025, 1, 1))
    assert services.current() == head(ledger)
    assert reached(projector) == {head(ledger)}


def test_a_read_model_without_its_tracking_row_is_caught_up(
    ledger: Ledger, projector: Projector, services: Services
) -> None:
    unit_tree(ledger)
    projector.catch_up()
    roster = projector.model("roster")
    projector.reset(roster)  # as when its schema changed: applied nothing yet
    assert projector.positions()["roster"] == 0
    record_read(ledger)  # the last event an access record: the change is still behind
    assert services.current() == head(ledger) - 1
    assert projector.positions()["roster"] >= head(ledger) - 1


def test_a_slower_request_does_not_take_the_unit_tree_back(
    ledger: Ledger, services: Services
) -> None:
    """Two requests at once: the slower one read where the read models stood before a
    rename, and finishes its ``current`` after the other has seen the rename. The unit tree
    the other request then reads (for the scope of grants, the unit of a roster page and
    the units it covers, kept under the new generation) must have the rename."""
    unit_tree(ledger)
    services.current()
    old = services.units().get("SNV")  # the tree as it is, kept
    assert old is not None and old["name"] == "Sở Nội vụ"

    read, resume = threading.Event(), threading.Event()
    read_state = services._read_state

    def slow_read_state() -> Any:
        state = read_state()
        if threading.current_thread().name == "slow request":
            read.set()  # read before the rename ...
            resume.wait(10)  # ... and on its way after it
        return state

    services._read_state = slow_read_state  # type: ignore[method-assign]
    slow = threading.Thread(target=services.current, name="slow request")
    slow.start()
    try:
        assert read.wait(10)
        ledger.rename_unit("SNV", "Sở Nội vụ tỉnh", actor=ADMIN, effective_date=date(2025, 1, 1))
        generation = services.current()
        assert generation == head(ledger)
    finally:
        resume.set()
        slow.join(10)
    assert not slow.is_alive()

    found = services.units().get("SNV")
    assert found is not None
    assert found["name"] == "Sở Nội vụ tỉnh"


# -- Roster pages over the API -------------------------------------------------------------


@dataclass
class Site:
    client: TestClient
    headers: dict[str, dict[str, str]]  # account -> session headers

    @property
    def svc(self) -> Services:
        return self.client.app.state.services  # type: ignore[attr-defined,no-any-return]

    def roster(self, code: str, who: str = "home", **params: Any) -> Any:
        return self.client.get(
            f"/api/units/{code}/roster", params=params, headers=self.headers[who]
        )

    def page(self, code: str, who: str = "home", **params: Any) -> dict[str, Any]:
        response = self.roster(code, who, **params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        body: dict[str, Any] = response.json()
        return body

    def names(self, code: str, **params: Any) -> list[str]:
        return [member["full_name"] for member in self.page(code, **params)["staff"]]

    def lookups(self) -> dict[str, float]:
        """``hoso_read_cache_lookups_total`` by result, as /metrics gives it."""
        response = self.client.get("/metrics")
        assert response.status_code == 200, response.text
        for family in text_string_to_metric_families(response.text):
            if family.name == "hoso_read_cache_lookups":
                return {
                    sample.labels["result"]: sample.value
                    for sample in family.samples
                    if sample.name == "hoso_read_cache_lookups_total"
                }
        raise AssertionError("no hoso_read_cache_lookups in /metrics")


class Counts:
    """Hits and misses since it was made, read from /metrics."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.start = site.lookups()

    def since(self) -> tuple[int, int]:
        now = self.site.lookups()
        return (
            int(now["hit"] - self.start.get("hit", 0)),
            int(now["miss"] - self.start.get("miss", 0)),
        )


@pytest.fixture
def start(
    ledger: Ledger, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Any]:
    """The builders' tree with three people of SNV (one with restricted values), accounts
    for the province's Home Affairs and SNV's HR officer; then ``start(**settings)`` runs
    the app, both signed in."""
    cheap_argon2(monkeypatch)
    unit_tree(ledger)
    hire(ledger, "001085000001", "Nguyễn Thị Bình", gender="female")
    hire(ledger, "001085000002", "Trần Văn An")
    record = person("001085000003")
    record["identity"]["full_name"] = "Lê Văn Cường"
    record["health"] = {"health_status": "Tốt", "blood_type": "O"}
    ledger.open_profile(record, decision=decision(), actor=HR)
    accounts: dict[str, TestAccount] = {
        "home": make_account(ledger, "home", Role.HOME_AFFAIRS, "UBND"),
        "hr.snv": make_account(ledger, "hr.snv", Role.HR_OFFICER, "SNV"),
    }

    @contextmanager
    def run(**settings: Any) -> Iterator[Site]:
        with auth_client(make_settings(**settings)) as client:
            headers = {name: log_in_as(client, account) for name, account in accounts.items()}
            yield Site(client, headers)

    return run


SNV_STAFF = ["Trần Văn An", "Nguyễn Thị Bình", "Lê Văn Cường"]


def test_a_page_read_twice_is_kept_the_second_time(start: Callable[..., Any]) -> None:
    with start() as site:
        assert site.svc.pages.size == 1024  # the default
        counts = Counts(site)
        first = site.roster("SNV", per_page=10)
        assert counts.since() == (0, 1)
        second = site.roster("SNV", per_page=10)
        assert counts.since() == (1, 1)
        assert second.status_code == first.status_code == 200
        assert second.content == first.content
        assert [m["full_name"] for m in second.json()["staff"]] == SNV_STAFF
        # The counters of the metrics are the Kept's own.
        assert site.lookups() == {"hit": site.svc.pages.hits, "miss": site.svc.pages.misses}
        # The code as typed, in lower case, is the same page.
        assert site.roster("snv", per_page=10).content == first.content
        assert counts.since() == (2, 1)


def test_each_query_is_kept_apart(start: Callable[..., Any]) -> None:
    with start() as site:
        assert site.names("SNV", per_page=2) == SNV_STAFF[:2]
        assert site.names("SNV", per_page=2, page=2) == SNV_STAFF[2:]
        assert site.names("SNV", q="binh") == ["Nguyễn Thị Bình"]
        assert site.names("SNV", category="public_employee") == []
        assert site.names("UBND") == SNV_STAFF
        assert site.names("STC") == []
        counts = Counts(site)
        # Read again: each its own answer, every one kept.
        assert site.names("SNV", per_page=2, page=2) == SNV_STAFF[2:]
        assert site.names("SNV", per_page=2) == SNV_STAFF[:2]
        assert site.names("STC") == []
        assert site.names("SNV", q="binh") == ["Nguyễn Thị Bình"]
        assert site.names("SNV", category="public_employee") == []
        assert site.names("UBND") == SNV_STAFF
        assert counts.since() == (6, 0)


def test_a_person_hired_after_a_page_was_kept_appears_in_it(
    ledger: Ledger, start: Callable[..., Any]
) -> None:
    with start() as site:
        for _ in range(2):
            assert site.names("STC") == []
            assert site.names("UBND") == SNV_STAFF
            assert site.page("STC.NS")["total"] == 0
        counts = Counts(site)

        hire(ledger, "001085000004", "Phạm Thị Dung", gender="female", unit_code="STC.NS")

        assert site.names("STC") == ["Phạm Thị Dung"]  # the unit above
        assert site.names("UBND") == [*SNV_STAFF, "Phạm Thị Dung"]
        page = site.page("STC.NS")
        assert page["total"] == 1
        assert page["staff"][0]["unit_code"] == "STC.NS"
        assert counts.since() == (0, 3)
        assert site.names("STC") == ["Phạm Thị Dung"]  # kept again, as it now is
        assert counts.since() == (1, 3)


def test_a_transfer_shows_in_both_kept_pages(ledger: Ledger, start: Callable[..., Any]) -> None:
    with start() as site:
        for _ in range(2):
            assert site.names("SNV") == SNV_STAFF
            assert site.names("STC.NS") == []
        transfer_an_to_stc_ns(ledger)
        assert site.names("SNV") == ["Nguyễn Thị Bình", "Lê Văn Cường"]
        staff = site.page("STC.NS")["staff"]
        assert [(m["full_name"], m["position"]) for m in staff] == [
            ("Trần Văn An", "Phó Trưởng phòng")
        ]


def test_a_rename_of_the_unit_shows_in_its_kept_page(
    ledger: Ledger, start: Callable[..., Any]
) -> None:
    with start() as site:
        for _ in range(2):
            assert site.page("SNV")["unit"]["name"] == "Sở Nội vụ"
        ledger.rename_unit(
            "SNV",
            "Sở Nội vụ tỉnh",
            actor=ADMIN,
            effective_date=date(2025, 1, 1),
            decision=decision("30/QĐ-UBND", date(2024, 12, 20)),
        )
        page = site.page("SNV")
        assert page["unit"]["name"] == "Sở Nội vụ tỉnh"
        assert [m["full_name"] for m in page["staff"]] == SNV_STAFF


def test_a_reorganisation_shows_in_the_kept_page_of_the_unit_above(
    ledger: Ledger, start: Callable[..., Any]
) -> None:
    """The people do not change, the tree does: the units a page covers are read anew."""
    with start() as site:
        for _ in range(2):
            assert site.names("STC") == []
        ledger.move_unit("SNV", "STC", actor=ADMIN, effective_date=date(2025, 1, 1))
        assert site.names("STC") == SNV_STAFF


def test_a_restricted_read_keeps_the_pages(ledger: Ledger, start: Callable[..., Any]) -> None:
    with start() as site:
        first = site.roster("SNV")
        assert first.status_code == 200, first.text
        counts = Counts(site)
        before = head(ledger)

        cuong = ledger.profile_id_for_citizen("001085000003")
        response = site.client.get(f"/api/profiles/{cuong}", headers=site.headers["hr.snv"])
        assert response.status_code == 200, response.text
        assert response.json()["record"]["health"]["blood_type"] == "O"  # shown: recorded
        recorded = ledger.recorder.select_notifications(before + 1, 100)
        assert [n.topic for n in recorded] == [ACCESS_TOPIC]

        again = site.roster("SNV")
        assert again.content == first.content
        assert counts.since() == (1, 0)  # still kept: the log gained no change

        # A change after the access record: the page is computed again, and shows it.
        hire(ledger, "001085000004", "Phạm Thị Dung", gender="female")
        assert site.names("SNV") == [*SNV_STAFF, "Phạm Thị Dung"]
        assert counts.since() == (1, 1)


def test_a_kept_page_is_served_only_to_who_may_read_the_unit(
    ledger: Ledger, start: Callable[..., Any]
) -> None:
    hire(ledger, "001085000005", "Phạm Thị Dung", gender="female", unit_code="STC")
    with start() as site:
        for _ in range(2):
            assert site.names("STC") == ["Phạm Thị Dung"]  # kept, read by Home Affairs
        refused = site.roster("STC", who="hr.snv")
        assert refused.status_code in (403, 404), refused.text
        assert "Phạm" not in refused.text
        # SNV's own page, kept for Home Affairs, is the same for SNV's HR officer.
        assert site.roster("SNV", who="hr.snv").content == site.roster("SNV").content


def test_with_no_pages_kept_the_answers_are_still_right(
    ledger: Ledger, start: Callable[..., Any]
) -> None:
    with start(read_cache_pages=0) as site:
        assert site.svc.pages.size == 0
        counts = Counts(site)
        assert site.names("SNV") == SNV_STAFF
        assert site.names("SNV") == SNV_STAFF
        hire(ledger, "001085000004", "Phạm Thị Dung", gender="female")
        assert site.names("SNV") == [*SNV_STAFF, "Phạm Thị Dung"]
        assert site.names("SNV", per_page=1, page=2) == ["Nguyễn Thị Bình"]
        assert counts.since() == (0, 4)


def test_records_of_access_are_not_kept_among_the_aggregates(ledger: Ledger) -> None:
    """A saved profile stays in the aggregate cache for its next load; a record of access
    is never loaded again, and kept it would only crowd the cache (and the collector)."""
    unit_tree(ledger)
    pid = ledger.open_profile(person("001085000001"), decision=decision(), actor=HR)
    ledger.record_access("restricted_read", f"profile:{pid}", actor=HR, profile_id=str(pid))
    cache = ledger.repository.cache
    assert cache is not None
    assert cache.get(pid).id == pid
    newest = ledger.recorder.max_notification_id()
    [record] = ledger.recorder.select_notifications(start=newest, limit=1)
    assert record.topic == get_topic(AccessRecord.Recorded)
    with pytest.raises(KeyError):
        cache.get(record.originator_id)
