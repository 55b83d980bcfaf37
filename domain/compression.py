"""Compression of stored event state, only where it pays.

Most events (a move, an approval) are a few hundred bytes that zlib barely shrinks, while
an opening record is several kilobytes that it shrinks to a third. Small states are stored
as they are. A stored state is JSON, which begins with ``{``; a zlib stream never does
(its first byte is 0x78 or another CMF byte), so the two are told apart without a marker.
"""

from __future__ import annotations

import zlib

from eventsourcing.compressor import Compressor

WORTH_COMPRESSING = 1024  # bytes


class LargeStateCompressor(Compressor):
    def compress(self, data: bytes) -> bytes:
        if len(data) < WORTH_COMPRESSING:
            return data
        return zlib.compress(data)

    def decompress(self, data: bytes) -> bytes:
        if data[:1] == b"{":
            return data
        return zlib.decompress(data)
