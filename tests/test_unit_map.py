"""The unit tree in memory (``projections.units.UnitMap``), on SQLite and PostgreSQL: it
answers as the read model's own queries do (``unit``, ``subtree_codes``) after moves,
merges and a dissolution, and its fingerprint tells one state of the tree from another."""

from __future__ import annotations

from datetime import date

from domain.application import Ledger
from domain.values import UnitKind
from projections.framework import Projector
from projections.units import UnitMap, subtree_codes, unit, unit_list, unit_map
from tests.builders import ADMIN, unit_tree
from tests.conftest import decision

DAY = date(2024, 1, 1)


def more_units(ledger: Ledger) -> None:
    """The builders' tree, two levels deeper: units under SNV, STC and STC.NS."""
    unit_tree(ledger)
    for code, name, kind, parent in (
        ("SNV.VP", "Văn phòng Sở", UnitKind.SUB_DEPARTMENT, "SNV"),
        ("SNV.TC", "Phòng Tổ chức", UnitKind.SUB_DEPARTMENT, "SNV"),
        ("STC.KH", "Phòng Kế hoạch", UnitKind.SUB_DEPARTMENT, "STC"),
        ("STC.NS.T1", "Tổ Dự toán", UnitKind.SUB_DEPARTMENT, "STC.NS"),
        ("STC.NS.T2", "Tổ Quyết toán", UnitKind.SUB_DEPARTMENT, "STC.NS"),
    ):
        ledger.create_unit(code, name, kind, parent, actor=ADMIN, effective_date=DAY)


def reorganise(ledger: Ledger) -> None:
    """A move, a merge (of a unit with units under it) and a dissolution."""
    ledger.move_unit("STC.KH", "SNV.VP", actor=ADMIN, effective_date=date(2024, 6, 1))
    ledger.merge_unit(
        "STC.NS",
        "SNV.TC",
        actor=ADMIN,
        effective_date=date(2025, 1, 1),
        decision=decision("05/QĐ-UBND", date(2024, 12, 20)),
    )
    ledger.dissolve_unit(
        "STC.NS.T2",
        actor=ADMIN,
        effective_date=date(2025, 2, 1),
        decision=decision("06/QĐ-UBND", date(2025, 1, 20)),
    )


def read_map(projector: Projector) -> UnitMap:
    projector.catch_up()
    with projector.engine.connect() as conn:
        return unit_map(conn)


def assert_same_as_sql(projector: Projector, tree: UnitMap) -> list[str]:
    """For every unit of the read model: the map's subtree is the SQL subtree (same codes,
    each once) and its row is the read model's row. Returns the codes."""
    with projector.engine.connect() as conn:
        codes = [row["code"] for row in unit_list(conn)]
        assert sorted(tree.rows) == codes
        for code in codes:
            below = tree.subtree(code)
            assert len(below) == len(set(below)), (code, below)
            assert set(below) == set(subtree_codes(conn, code)), code
            assert below[0] == code  # the unit itself comes first
            assert tree.get(code) == unit(conn, code)
    return codes


def test_the_map_answers_as_the_subtree_query_after_a_move_and_a_merge(
    ledger: Ledger, projector: Projector
) -> None:
    more_units(ledger)
    reorganise(ledger)
    tree = read_map(projector)

    codes = assert_same_as_sql(projector, tree)
    assert len(codes) == 9
    # The moved unit is under its new parent only; the merged unit, and the units under it,
    # are below both its parent and the unit it was merged into.
    assert set(tree.subtree("SNV")) == {
        "SNV",
        "SNV.VP",
        "SNV.TC",
        "STC.KH",
        "STC.NS",
        "STC.NS.T1",
        "STC.NS.T2",
    }
    assert set(tree.subtree("SNV.TC")) == {"SNV.TC", "STC.NS", "STC.NS.T1", "STC.NS.T2"}
    assert set(tree.subtree("STC")) == {"STC", "STC.NS", "STC.NS.T1", "STC.NS.T2"}
    assert set(tree.subtree("SNV.VP")) == {"SNV.VP", "STC.KH"}
    assert set(tree.subtree("UBND")) == set(codes)
    assert tree.subtree("STC.NS.T2") == ["STC.NS.T2"]  # dissolved, still a unit of its own
    merged = tree.get("STC.NS")
    assert merged is not None
    assert (merged["status"], merged["merged_into"], merged["parent_code"]) == (
        "merged",
        "SNV.TC",
        "STC",
    )
    moved = tree.get("STC.KH")
    assert moved is not None and moved["parent_code"] == "SNV.VP"


def test_a_unit_merged_into_its_own_subunit_ends_no_walk(
    ledger: Ledger, projector: Projector
) -> None:
    # Merging does not look at the tree: STC goes into STC.NS, which is under STC.
    more_units(ledger)
    ledger.merge_unit(
        "STC",
        "STC.NS",
        actor=ADMIN,
        effective_date=date(2025, 1, 1),
        decision=decision("07/QĐ-UBND", date(2024, 12, 20)),
    )
    tree = read_map(projector)

    assert_same_as_sql(projector, tree)
    expected = {"STC", "STC.KH", "STC.NS", "STC.NS.T1", "STC.NS.T2"}
    assert set(tree.subtree("STC")) == expected
    assert set(tree.subtree("STC.NS")) == expected


def test_an_unknown_unit_is_none_and_has_no_subtree(ledger: Ledger, projector: Projector) -> None:
    unit_tree(ledger)
    tree = read_map(projector)
    assert tree.get("KHONGCO") is None
    assert tree.subtree("KHONGCO") == []
    with projector.engine.connect() as conn:
        assert subtree_codes(conn, "KHONGCO") == []
    # Codes are matched as stored (the callers upper-case them first).
    assert tree.get("snv") is None
    assert tree.subtree("snv") == []


def test_an_empty_tree(ledger: Ledger, projector: Projector) -> None:
    tree = read_map(projector)
    assert tree.fingerprint == (0, 0)
    assert tree.get("UBND") is None
    assert tree.subtree("UBND") == []


def test_a_row_given_out_is_a_copy(ledger: Ledger, projector: Projector) -> None:
    unit_tree(ledger)
    tree = read_map(projector)
    row = tree.get("SNV")
    assert row is not None
    row["name"] = "đã sửa"
    row["parent_code"] = None
    assert tree.get("SNV") == {**row, "name": "Sở Nội vụ", "parent_code": "UBND"}


def test_the_fingerprint_changes_with_a_rename_and_a_new_unit(
    ledger: Ledger, projector: Projector
) -> None:
    more_units(ledger)
    reorganise(ledger)
    before = read_map(projector)
    assert before.fingerprint == read_map(projector).fingerprint  # nothing changed

    ledger.rename_unit(
        "SNV.TC",
        "Phòng Tổ chức cán bộ",
        actor=ADMIN,
        effective_date=date(2025, 3, 1),
        decision=decision("08/QĐ-UBND", date(2025, 2, 20)),
    )
    renamed = read_map(projector)
    assert renamed.fingerprint != before.fingerprint
    assert renamed.fingerprint[0] == before.fingerprint[0]  # as many units as before
    found = renamed.get("SNV.TC")
    assert found is not None and found["name"] == "Phòng Tổ chức cán bộ"
    old = before.get("SNV.TC")
    assert old is not None and old["name"] == "Phòng Tổ chức"  # a map is a snapshot
    assert renamed.subtree("SNV.TC") == before.subtree("SNV.TC")

    ledger.create_unit("SNV.TT", "Trung tâm Lưu trữ", UnitKind.SUB_DEPARTMENT, "SNV", actor=ADMIN)
    grown = read_map(projector)
    assert grown.fingerprint != renamed.fingerprint
    assert grown.fingerprint[0] == renamed.fingerprint[0] + 1
    assert "SNV.TT" in grown.subtree("SNV")
    assert_same_as_sql(projector, grown)
