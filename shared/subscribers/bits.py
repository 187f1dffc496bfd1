"""``property_bits``: a 64-bit signature of a subscriber's string and boolean properties.

Each ``key = value`` pair sets one bit, the low six bits of the first byte of
md5(key, 0x1f, value). A row that equals ``plan = "pro"`` has that pair's bit, so the filtered list
walks the (sender_id, id) index with the signature in it and reads only the rows whose bits match
(db/0070 says why). The same function exists in SQL (``property_bits(jsonb)``), for the writes
that change properties in SQL; a test holds the two to the same answers. Numbers are left out:
5 and 5.0 are equal in jsonb but not as text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

_SIGN = 1 << 63


def property_bits(properties: Mapping[str, Any]) -> int:
    """The signature of ``properties`` as PostgreSQL's signed bigint."""
    bits = 0
    for key, value in properties.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = value
        else:
            continue
        digest = hashlib.md5(f"{key}\x1f{text}".encode(), usedforsecurity=False).digest()
        bits |= 1 << (digest[0] & 63)
    return bits - 2 * _SIGN if bits & _SIGN else bits
