"""Hypothesis on the send-token codec (shared/tokens.py): whatever arrives in a URL path or a
VERP local part, decode() answers an id only for a token one of our secrets signed, and never
raises. tests/shared/test_tokens.py has the round trip; this file attacks it."""

from __future__ import annotations

import base64

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from shared.tokens import ID_BYTES, TOKEN_LENGTH, TokenCodec

SECRETS = [b"current-secret-0123456789", b"previous-secret-abcdefghij"]
CODEC = TokenCodec(SECRETS)
ids = st.integers(min_value=1, max_value=2**63 - 1)
B32 = "abcdefghijklmnopqrstuvwxyz234567"


@settings(max_examples=2000)
@given(st.text(max_size=80))
@example("a" * TOKEN_LENGTH)
@example("A" * TOKEN_LENGTH)
@example("=" * TOKEN_LENGTH)
@example("\u0131" * TOKEN_LENGTH)  # dotless i: upper() makes it ASCII "I"
@example("\x00" * TOKEN_LENGTH)
def test_any_text_decodes_to_none_without_raising(text: str) -> None:
    assert CODEC.decode(text) is None


@settings(max_examples=1000)
@given(st.binary(max_size=64))
def test_any_bytes_as_latin1_text_decodes_to_none(raw: bytes) -> None:
    assert CODEC.decode(raw.decode("latin-1")) is None


@settings(max_examples=1000)
@given(st.text(alphabet=B32, min_size=TOKEN_LENGTH, max_size=TOKEN_LENGTH))
def test_well_formed_but_unsigned_tokens_are_refused(text: str) -> None:
    # Right length and alphabet: only the MAC stands between this and a valid id.
    assert CODEC.decode(text) is None


@settings(max_examples=500)
@given(ids, st.binary(min_size=12, max_size=12))
def test_a_forged_mac_for_a_real_id_is_refused(send_id: int, mac: bytes) -> None:
    forged = base64.b32encode(send_id.to_bytes(ID_BYTES, "big") + mac).decode().lower()
    assume(forged != CODEC.encode(send_id))  # 2**-96: the real MAC drawn by chance
    assert CODEC.decode(forged) is None


@settings(max_examples=500)
@given(ids, ids)
def test_a_mac_is_not_transplantable_between_ids(a: int, b: int) -> None:
    if a == b:
        return
    raw_a = base64.b32decode(CODEC.encode(a).upper())
    raw_b = base64.b32decode(CODEC.encode(b).upper())
    spliced = base64.b32encode(raw_a[:ID_BYTES] + raw_b[ID_BYTES:]).decode().lower()
    assert CODEC.decode(spliced) is None


@settings(max_examples=500)
@given(ids, st.sampled_from(["upper", "prefix", "suffix", "strip_one", "pad"]))
def test_mangled_valid_tokens(send_id: int, how: str) -> None:
    token = CODEC.encode(send_id)
    if how == "upper":  # MTAs may fold the case of a VERP local part: that must still work
        assert CODEC.decode(token.upper()) == send_id
        return
    mangled = {
        "prefix": "a" + token,
        "suffix": token + "a",
        "strip_one": token[:-1],
        "pad": token + "====",
    }[how]
    assert CODEC.decode(mangled) is None


@settings(max_examples=300)
@given(ids)
def test_rotation(send_id: int) -> None:
    old = TokenCodec([SECRETS[1]])
    new = TokenCodec([b"next-secret-zyxwvutsrqpo", SECRETS[1]])
    retired = TokenCodec([b"next-secret-zyxwvutsrqpo"])
    token_before = old.encode(send_id)
    assert new.decode(token_before) == send_id, "old tokens keep working during rotation"
    assert retired.decode(token_before) is None, "a retired secret verifies nothing"
    assert old.decode(new.encode(send_id)) is None, "the new secret signs"


@settings(max_examples=200)
@given(st.binary(min_size=1, max_size=64), ids)
def test_a_different_secret_never_verifies(secret: bytes, send_id: int) -> None:
    if secret in SECRETS:
        return
    assert CODEC.decode(TokenCodec([secret]).encode(send_id)) is None
