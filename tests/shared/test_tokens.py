from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.tokens import TOKEN_LENGTH, TokenCodec

codec = TokenCodec([b"first-secret-0123456789"])


@given(st.integers(min_value=1, max_value=2**63 - 1))
def test_round_trip(send_id: int) -> None:
    token = codec.encode(send_id)
    assert len(token) == TOKEN_LENGTH
    assert token == token.lower()
    assert codec.decode(token) == send_id
    # VERP local parts may come back upper-cased by an MTA.
    assert codec.decode(token.upper()) == send_id


@given(
    st.integers(min_value=1, max_value=2**40), st.integers(min_value=0, max_value=TOKEN_LENGTH - 1)
)
def test_any_changed_character_is_refused(send_id: int, position: int) -> None:
    token = codec.encode(send_id)
    replacement = "a" if token[position] != "a" else "b"
    tampered = token[:position] + replacement + token[position + 1 :]
    assert codec.decode(tampered) is None


@given(st.text(max_size=64))
def test_garbage_is_refused_without_raising(text: str) -> None:
    assert codec.decode(text) is None


def test_rotation_first_signs_all_verify() -> None:
    old = TokenCodec([b"old-secret-0123456789"])
    rotated = TokenCodec([b"new-secret-0123456789", b"old-secret-0123456789"])
    new = TokenCodec([b"new-secret-0123456789"])
    old_token = old.encode(42)
    assert rotated.decode(old_token) == 42
    assert rotated.encode(42) == new.encode(42)
    assert new.decode(old_token) is None


def test_truncated_and_wrong_secret() -> None:
    token = codec.encode(7)
    assert codec.decode(token[:-1]) is None
    assert TokenCodec([b"another-secret-0123456"]).decode(token) is None


def test_ids_out_of_range() -> None:
    with pytest.raises(ValueError):
        codec.encode(0)
    with pytest.raises(ValueError):
        TokenCodec([])
