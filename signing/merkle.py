"""Merkle trees as in RFC 9162 §2.1 (Certificate Transparency 2.0), over SHA-256.

The tree over the leaf hashes ``D[0:n]`` is the RFC's Merkle Tree Hash:

* ``MTH({}) = SHA-256()``;
* a leaf's hash is ``SHA-256(0x00 || data)``;
* ``MTH(D[0:n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))`` where ``k`` is the largest
  power of two smaller than ``n``.

Everything here works on leaf hashes (32 bytes each), never on the leaf data. A
:class:`MerkleTree` hashes every complete, aligned subtree once (about ``n`` node hashes
for ``n`` leaves), after which the root of any prefix of the log, an inclusion proof or a
consistency proof costs ``O(log n)`` hashes: one tree over the whole log answers for every
seal. The verification functions follow the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2
step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """The hash of a leaf: ``SHA-256(0x00 || data)``."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: ``SHA-256(0x01 || left || right)``."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (for ``n > 1``)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """The complete subtrees of a list of leaf hashes, hashed once.

    ``levels[j][i]`` is the hash of leaves ``[i * 2**j, (i + 1) * 2**j)``; level 0 is the
    leaf hashes themselves. Prefixes of the list are trees of their own: ``root(size)``,
    ``inclusion_proof(index, size)`` and ``consistency_proof(first, second)`` take any size
    up to ``len(leaves)``.
    """

    def __init__(self, leaves: Sequence[bytes]) -> None:
        for position, leaf in enumerate(leaves):
            if len(leaf) != HASH_SIZE:
                raise ValueError(f"leaf hash {position} is {len(leaf)} bytes, not {HASH_SIZE}")
        level = list(leaves)
        self.size = len(level)
        self.levels: list[list[bytes]] = [level]
        while len(level) > 1:
            pairs = iter(level)
            level = [
                _sha256(_NODE_PREFIX + left + right).digest()
                for left, right in zip(pairs, pairs, strict=False)
            ]
            self.levels.append(level)

    def __len__(self) -> int:
        return self.size

    def _check_size(self, size: int | None) -> int:
        if size is None:
            return self.size
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} is outside 0..{self.size}")
        return size

    def subtree_hash(self, start: int, end: int) -> bytes:
        """``MTH(D[start:end])`` for ``0 <= start < end <= size``."""
        n = end - start
        if n <= 0 or start < 0 or end > self.size:
            raise ValueError(f"no subtree [{start}, {end}) in a tree of {self.size} leaves")
        if n & (n - 1) == 0 and start % n == 0:
            height = n.bit_length() - 1
            return self.levels[height][start >> height]
        k = _split(n)
        return node_hash(self.subtree_hash(start, start + k), self.subtree_hash(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        """The Merkle Tree Hash of the first ``size`` leaves (all by default)."""
        size = self._check_size(size)
        return EMPTY_ROOT if size == 0 else self.subtree_hash(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """``PATH(index, D[0:size])`` of RFC 9162 §2.1.3.1, from the leaf up."""
        size = self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
        path: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                path.append(self.subtree_hash(start + k, end))
                end = start + k
            else:
                path.append(self.subtree_hash(start, start + k))
                start += k
        path.reverse()
        return path

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """``PROOF(first, D[0:second])`` of RFC 9162 §2.1.4.1; empty when ``first`` is 0
        or equals ``second``."""
        second = self._check_size(second)
        if not 0 <= first <= second:
            raise ValueError(f"no consistency proof from size {first} to size {second}")
        if first == 0 or first == second:
            return []
        # SUBPROOF(m, D[start:end], complete), unrolled: each step adds one sibling hash.
        path: list[bytes] = []
        m, start, end, complete = first, 0, second, True
        while m != end - start:
            k = _split(end - start)
            if m <= k:
                path.append(self.subtree_hash(start + k, end))
                end = start + k
            else:
                path.append(self.subtree_hash(start, start + k))
                m -= k
                start += k
                complete = False
        if not complete:
            path.append(self.subtree_hash(start, end))
        path.reverse()
        return path


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of a list of leaf hashes."""
    return MerkleTree(leaves).root()


def inclusion_proof(leaves: Sequence[bytes], index: int, size: int | None = None) -> list[bytes]:
    return MerkleTree(leaves if size is None else leaves[:size]).inclusion_proof(index)


def consistency_proof(
    leaves: Sequence[bytes], first: int, second: int | None = None
) -> list[bytes]:
    return MerkleTree(leaves if second is None else leaves[:second]).consistency_proof(first)


def _well_formed(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes | bytearray) and len(h) == HASH_SIZE for h in hashes)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` show leaf hash ``leaf`` at ``index`` in the tree of
    ``size`` leaves whose root is ``root``?"""
    if not _well_formed(leaf, root, *proof) or not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: does ``proof`` show that the tree of ``first`` leaves with root
    ``first_root`` is a prefix of the tree of ``second`` leaves with root ``second_root``?

    The degenerate cases the RFC leaves to the caller: equal sizes need equal roots and an
    empty proof; the empty tree is a prefix of every tree (empty proof)."""
    if not _well_formed(first_root, second_root, *proof) or not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


class MerkleRootStream:
    """The Merkle Tree Hash of leaf hashes given one at a time, in ``O(log n)`` memory: the
    roots of the complete subtrees so far, one per bit of the count (a log too large to
    hold its tree in memory, read once)."""

    def __init__(self) -> None:
        self.size = 0
        self._subtrees: list[tuple[int, bytes]] = []  # (leaves, hash), largest first

    def add(self, leaf: bytes) -> None:
        subtrees = self._subtrees
        subtrees.append((1, leaf))
        while len(subtrees) > 1 and subtrees[-1][0] == subtrees[-2][0]:
            right_size, right = subtrees.pop()
            left_size, left = subtrees.pop()
            subtrees.append((left_size + right_size, node_hash(left, right)))
        self.size += 1

    def root(self) -> bytes:
        """``MTH`` of the leaves added so far: the subtrees folded from the right."""
        if not self._subtrees:
            return EMPTY_ROOT
        acc = self._subtrees[-1][1]
        for _, left in reversed(self._subtrees[:-1]):
            acc = node_hash(left, acc)
        return acc
