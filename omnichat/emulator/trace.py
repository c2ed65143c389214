"""``--trace FILE``: every frame in both directions as one JSON line.

Each line: ``{"t": <monotonic seconds>, "session": "sess_...", "dir": "in"|"out", ...}`` with
either ``"event"`` (the decoded object, base64 payloads replaced by ``"<N base64 chars>"``) or
``"raw"`` (an undecodable frame, cut to 200 characters), or ``"note"`` for handshakes and
closes. Request headers that may carry a credential (``Authorization``, anything named like a
key, token or secret) are left out, such query parameters are masked, and the emulator's own
key is masked wherever a client echoes it: the key never reaches the file.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from omnichat.protocol.session_fields import redacted_tools

# Fields that carry audio or image payloads, per event type.
PAYLOAD_FIELDS = {
    "input_audio_buffer.append": "audio",
    "input_image_buffer.append": "image",
    "response.audio.delta": "delta",
}
_SECRET_HEADERS = {"authorization", "x-api-key", "cookie"}
_SECRET_WORDS = ("key", "token", "secret", "auth", "password", "signature")
MASK = "<redacted>"


def elide(event: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``event`` with its audio/image payload replaced by its length and the
    credentials of its MCP tools masked."""
    data = dict(event)
    session = data.get("session")
    if isinstance(session, dict) and "tools" in session:  # MCP credentials never reach it
        data["session"] = {**session, "tools": redacted_tools(session["tools"])}
    field = PAYLOAD_FIELDS.get(str(data.get("type")))
    if field and isinstance(data.get(field), str):
        data[field] = f"<{len(data[field])} base64 chars>"
    return data


def _secret_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_HEADERS or any(word in lowered for word in _SECRET_WORDS)


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers without any that may hold a credential."""
    return {k: v for k, v in headers.items() if not _secret_name(k)}


def safe_path(path: str) -> str:
    """The request target with credential-like query parameters masked."""
    parts = urlsplit(path)
    if not parts.query:
        return path
    query = [(k, MASK if _secret_name(k) else v)
             for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="<>")))


class Trace:
    """Append-only JSONL writer shared by all sessions; the lock keeps lines whole."""

    def __init__(self, path: str, secrets: Iterable[str | None] = ()) -> None:
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._lock = threading.Lock()  # one writer at a time; held only for one line
        # Masked wherever they appear in a line (JSON-escaped, as they are written).
        self._secrets = [json.dumps(s, ensure_ascii=False)[1:-1] for s in secrets if s]

    def write(self, session_id: str, direction: str, **fields: Any) -> None:
        line = {"t": round(time.monotonic(), 6), "session": session_id, "dir": direction}
        line.update(fields)
        text = json.dumps(line, ensure_ascii=False, separators=(",", ":"))
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        with self._lock:
            if not self._file.closed:
                self._file.write(text + "\n")
                self._file.flush()

    def event(self, session_id: str, direction: str, event: Mapping[str, Any]) -> None:
        self.write(session_id, direction, event=elide(event))

    def raw(self, session_id: str, direction: str, frame: str | bytes) -> None:
        shown = frame[:200] if isinstance(frame, str) else f"<{len(frame)} binary bytes>"
        self.write(session_id, direction, raw=shown)

    def close(self) -> None:
        with self._lock:
            self._file.close()
