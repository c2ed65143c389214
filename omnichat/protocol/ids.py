"""Identifiers in the shapes the live service uses (docs/protocol.md §2).

Server ids are a prefix plus 21 base62 characters (``event_LeprZ2YHIGIcnozR2b8Qq``); function
call ids are ``call_`` plus 24 lowercase hex digits. Clients must treat ids as opaque.
"""

from __future__ import annotations

import secrets
import string

_BASE62 = string.ascii_letters + string.digits
ID_SUFFIX_LENGTH = 21


def new_id(prefix: str) -> str:
    """Return ``prefix_`` followed by 21 random base62 characters."""
    return prefix + "_" + "".join(secrets.choice(_BASE62) for _ in range(ID_SUFFIX_LENGTH))


def new_event_id() -> str:
    return new_id("event")


def new_call_id() -> str:
    return "call_" + secrets.token_hex(12)
