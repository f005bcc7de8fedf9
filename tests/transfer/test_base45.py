"""Base45 per RFC 9285: the RFC's vectors, strict rejection, and a round-trip property."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transfer.base45 import b45decode, b45encode
from transfer.errors import FrameError

VECTORS = [  # RFC 9285 §4.3 and §4.4
    (b"AB", "BB8"),
    (b"Hello!!", "%69 VD92EX0"),
    (b"base-45", "UJCLQE7W581"),
    (b"ietf!", "QED8WEX0"),
    (b"", ""),
]


@pytest.mark.parametrize(("raw", "text"), VECTORS)
def test_rfc_vectors(raw: bytes, text: str) -> None:
    assert b45encode(raw) == text
    assert b45decode(text) == raw


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("GGW", "value"),  # RFC 9285 §6: 65535 < value
        (":::", "value"),
        ("::", "value"),  # 2-char group > 255
        ("A", "length"),
        ("BB8A", "length"),
        ("bb8", "character"),  # lowercase is not in the alphabet
        ("BB\n", "character"),
        ("BB8=", "length"),
        ("BB=", "character"),
    ],
)
def test_strict_rejection(text: str, why: str) -> None:
    with pytest.raises(FrameError, match=why):
        b45decode(text)


@given(st.binary(max_size=300))
def test_round_trip(data: bytes) -> None:
    assert b45decode(b45encode(data)) == data


@given(st.text(max_size=40))
def test_decode_only_raises_frame_error(text: str) -> None:
    try:
        b45decode(text)
    except FrameError:
        pass
