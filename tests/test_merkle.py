"""RFC 9162 Merkle trees: the published reference values, every proof of small trees, and
proofs that must fail once a byte, an index or a size is wrong."""

from __future__ import annotations

import hashlib

import pytest

from signing.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

# The Certificate Transparency reference inputs and tree heads (sizes 1..8).
CT_DATA = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
CT_CONSISTENCY = {
    (2, 8): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}
MAX_SIZE = 20


# -- the RFC's recursive definitions, word for word, as the reference ------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def rfc_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return node_hash(rfc_mth(d[:k]), rfc_mth(d[k:]))


def rfc_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*rfc_path(m, d[:k]), rfc_mth(d[k:])]
    return [*rfc_path(m - k, d[k:]), rfc_mth(d[:k])]


def rfc_subproof(m: int, d: list[bytes], complete: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if complete else [rfc_mth(d)]
    k = _k(n)
    if m <= k:
        return [*rfc_subproof(m, d[:k], complete), rfc_mth(d[k:])]
    return [*rfc_subproof(m - k, d[k:], False), rfc_mth(d[:k])]


LEAVES = [leaf_hash(f"event {i}".encode()) for i in range(MAX_SIZE)]
TREE = MerkleTree(LEAVES)


def _flip(proof: list[bytes], item: int, byte: int) -> list[bytes]:
    changed = [bytearray(p) for p in proof]
    changed[item][byte] ^= 0x01
    return [bytes(p) for p in changed]


# -- reference values ------------------------------------------------------------------------


def test_leaf_and_node_hashes_use_the_rfc_prefixes() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    left, right = leaf_hash(b"l"), leaf_hash(b"r")
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert merkle_root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_the_certificate_transparency_reference_roots() -> None:
    leaves = [leaf_hash(d) for d in CT_DATA]
    tree = MerkleTree(leaves)
    for size in range(1, 9):
        assert tree.root(size).hex() == CT_ROOTS[size - 1], size
        assert merkle_root(leaves[:size]).hex() == CT_ROOTS[size - 1], size


def test_the_certificate_transparency_reference_proofs() -> None:
    leaves = [leaf_hash(d) for d in CT_DATA]
    tree = MerkleTree(leaves)
    for (index, size), expected in CT_INCLUSION.items():
        proof = tree.inclusion_proof(index, size)
        assert [p.hex() for p in proof] == expected
        assert inclusion_proof(leaves, index, size) == proof
        root = bytes.fromhex(CT_ROOTS[size - 1])
        assert verify_inclusion(leaves[index], index, size, proof, root)
    for (first, second), expected in CT_CONSISTENCY.items():
        proof = tree.consistency_proof(first, second)
        assert [p.hex() for p in proof] == expected
        assert consistency_proof(leaves, first, second) == proof
        assert verify_consistency(
            first,
            second,
            bytes.fromhex(CT_ROOTS[first - 1]),
            bytes.fromhex(CT_ROOTS[second - 1]),
            proof,
        )


# -- every proof of every small tree ---------------------------------------------------------


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_every_inclusion_proof_verifies_and_matches_the_rfc(size: int) -> None:
    leaves = LEAVES[:size]
    root = rfc_mth(leaves)
    assert TREE.root(size) == root == MerkleTree(leaves).root()
    for index in range(size):
        proof = TREE.inclusion_proof(index, size)
        assert proof == rfc_path(index, leaves)
        assert verify_inclusion(leaves[index], index, size, proof, root)


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_every_consistency_proof_verifies_and_matches_the_rfc(size: int) -> None:
    second_root = TREE.root(size)
    for first in range(0, size + 1):
        proof = TREE.consistency_proof(first, size)
        expected = [] if first in (0, size) else rfc_subproof(first, LEAVES[:size], True)
        assert proof == expected, (first, size)
        assert verify_consistency(first, size, TREE.root(first), second_root, proof)


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_a_changed_inclusion_proof_fails(size: int) -> None:
    root = TREE.root(size)
    for index in range(size):
        leaf = LEAVES[index]
        proof = TREE.inclusion_proof(index, size)
        for item in range(len(proof)):
            for byte in (0, 17, 31):
                assert not verify_inclusion(leaf, index, size, _flip(proof, item, byte), root)
        assert not verify_inclusion(leaf_hash(b"another event"), index, size, proof, root)
        assert not verify_inclusion(leaf, index, size, proof, _flip([root], 0, 5)[0])
        if size > 1:
            assert not verify_inclusion(leaf, (index + 1) % size, size, proof, root)
            assert not verify_inclusion(leaf, index, size, proof[:-1], root)
        assert not verify_inclusion(leaf, index, size, [*proof, LEAVES[0]], root)
        assert not verify_inclusion(leaf, size, size, proof, root)
        assert not verify_inclusion(leaf, -1, size, proof, root)


@pytest.mark.parametrize("size", range(2, MAX_SIZE + 1))
def test_a_changed_consistency_proof_fails(size: int) -> None:
    second_root = TREE.root(size)
    for first in range(1, size):
        first_root = TREE.root(first)
        proof = TREE.consistency_proof(first, size)
        assert proof
        for item in range(len(proof)):
            changed = _flip(proof, item, item % 32)
            assert not verify_consistency(first, size, first_root, second_root, changed)
        assert not verify_consistency(first, size, first_root, second_root, proof[:-1])
        assert not verify_consistency(first, size, first_root, second_root, [*proof, proof[0]])
        assert not verify_consistency(
            first, size, TREE.root(first - 1) if first > 1 else LEAVES[1], second_root, proof
        )
        assert not verify_consistency(first, size, first_root, TREE.root(size - 1), proof)
        assert not verify_consistency(size, first, second_root, first_root, proof)
        assert not verify_consistency(first, size, first_root, second_root, [])


def test_degenerate_consistency_cases() -> None:
    assert verify_consistency(4, 4, TREE.root(4), TREE.root(4), [])
    assert not verify_consistency(4, 4, TREE.root(4), TREE.root(5), [])
    assert not verify_consistency(4, 4, TREE.root(4), TREE.root(4), [LEAVES[0]])
    assert verify_consistency(0, 8, EMPTY_ROOT, TREE.root(8), [])
    assert not verify_consistency(0, 8, TREE.root(1), TREE.root(8), [])


def test_bad_sizes_and_hashes_are_refused() -> None:
    with pytest.raises(ValueError):
        MerkleTree([b"short"])
    with pytest.raises(ValueError):
        TREE.inclusion_proof(MAX_SIZE)
    with pytest.raises(ValueError):
        TREE.inclusion_proof(0, MAX_SIZE + 1)
    with pytest.raises(ValueError):
        TREE.consistency_proof(5, 3)
    with pytest.raises(ValueError):
        TREE.root(MAX_SIZE + 1)
    assert not verify_inclusion(b"\x00" * 31, 0, 2, TREE.inclusion_proof(0, 2), TREE.root(2))


def test_prefix_roots_of_a_large_tree_match_the_rfc() -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(1500)]
    tree = MerkleTree(leaves)
    for size in (1, 2, 3, 255, 256, 257, 1000, 1023, 1024, 1025, 1499, 1500):
        assert tree.root(size) == rfc_mth(leaves[:size]), size
    proof = tree.consistency_proof(1000, 1500)
    assert verify_consistency(1000, 1500, tree.root(1000), tree.root(1500), proof)
    proof = tree.inclusion_proof(1234, 1300)
    assert verify_inclusion(leaves[1234], 1234, 1300, proof, tree.root(1300))
