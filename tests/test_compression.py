"""Stored state is compressed where it pays and always reads back."""

from __future__ import annotations

import json
import zlib

from domain.compression import WORTH_COMPRESSING, LargeStateCompressor


def test_small_states_are_stored_as_they_are_and_large_ones_compressed() -> None:
    compressor = LargeStateCompressor()
    small = json.dumps({"department": "Văn phòng"}, ensure_ascii=False).encode()
    large = json.dumps(
        {"work_history": ["Chuyên viên Sở Nội vụ"] * 200}, ensure_ascii=False
    ).encode()
    assert len(large) > WORTH_COMPRESSING
    assert compressor.compress(small) == small
    packed = compressor.compress(large)
    assert len(packed) < len(large) // 4
    assert compressor.decompress(packed) == large
    assert compressor.decompress(small) == small


def test_states_written_with_plain_zlib_still_read() -> None:
    state = json.dumps({"full_name": "Nguyễn Văn An"}, ensure_ascii=False).encode()
    assert LargeStateCompressor().decompress(zlib.compress(state)) == state
