"""Opening a WebSocket: TCP, TLS and the HTTP upgrade, under one deadline and size caps.

Written here rather than left to websocket-client because every part of it must be bounded
against a hostile or broken server: the whole connect has one deadline (a 101 trickled a byte
a second fails at the deadline), the response head is capped in bytes and lines (a 200 MB
header line or two million header lines fail at the cap), redirects are never followed (the
``Authorization`` header would go with them), and TLS always verifies the certificate and
host name. Plain functions, called by the transport's ``connect`` on the caller's thread.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from omnichat.errors import ConfigError, ConnectFailed

MAX_HEADER_BYTES = 64 * 1024
MAX_HEADER_LINES = 100
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
_LOOPBACK_NAMES = ("localhost", "localhost.", "ip6-localhost")


@dataclass(frozen=True)
class Target:
    """Where a ws:// or wss:// URL points."""

    secure: bool
    host: str
    port: int
    resource: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.secure else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str] = field(repr=False)
    rest: bytes = field(repr=False)  # bytes after the head: the start of the first frame


def parse_target(url: str, allow_insecure: bool) -> Target:
    """Check a URL is ws:// or wss://, and that ws:// only goes to loopback unless allowed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"the endpoint {url} is not a valid URL ({exc})") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ConfigError(f"the endpoint {url} is not a ws:// or wss:// URL")
    secure = parts.scheme == "wss"
    if not secure and not allow_insecure and not is_loopback(parts.hostname):
        raise ConfigError(f"refusing to connect to {url} unencrypted: ws:// would send the API "
                          "key and your voice in clear text; use wss://, or pass "
                          "--allow-insecure if you trust the network")
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(secure, parts.hostname, port or (443 if secure else 80), resource)


def is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_key(api_key: str | None) -> None:
    """A key with a line break would inject headers into the request; never echo it."""
    if api_key is not None and any(ord(c) < 0x21 or ord(c) == 0x7F for c in api_key):
        raise ConfigError("the API key contains spaces or control characters; "
                          "copy it again from the console")


def open_socket(target: Target, deadline: float,
                ssl_context: ssl.SSLContext | None = None) -> socket.socket:
    """A connected TCP socket, wrapped in verified TLS for wss://."""
    sock = socket.create_connection((target.host, target.port), timeout=_remaining(deadline))
    if not target.secure:
        return sock
    context = ssl_context or ssl.create_default_context()
    try:
        sock.settimeout(_remaining(deadline))
        return context.wrap_socket(sock, server_hostname=target.host)
    except BaseException:
        sock.close()
        raise


def upgrade(sock: socket.socket, target: Target, api_key: str | None,
            deadline: float) -> Response:
    """Send the upgrade request and read the response head, all before ``deadline``."""
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    sock.settimeout(_remaining(deadline))
    sock.sendall(_request(target, key, api_key))
    head, rest = _read_head(sock, deadline)
    status, headers = _parse_head(head)
    if status == 101:
        _check_accept(headers, key)
    return Response(status, headers, rest)


def _request(target: Target, key: str, api_key: str | None) -> bytes:
    lines = [f"GET {target.resource} HTTP/1.1", f"Host: {target.host_header}",
             "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
             "Sec-WebSocket-Version: 13", "User-Agent: omnichat"]
    if api_key:
        lines.append(f"Authorization: Bearer {api_key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _read_head(sock: socket.socket, deadline: float) -> tuple[bytes, bytes]:
    buffer = bytearray()
    while True:
        sock.settimeout(_remaining(deadline))
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectFailed("the server closed the connection during the handshake",
                                retryable=True)
        buffer += chunk
        end = buffer.find(b"\r\n\r\n")
        if 0 <= end <= MAX_HEADER_BYTES:
            return bytes(buffer[:end]), bytes(buffer[end + 4:])
        if len(buffer) > MAX_HEADER_BYTES:
            raise ConnectFailed(f"the server's handshake response is larger than "
                                f"{MAX_HEADER_BYTES // 1024} KiB")


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    if len(lines) > MAX_HEADER_LINES:
        raise ConnectFailed(f"the server's handshake response has more than "
                            f"{MAX_HEADER_LINES} header lines")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ConnectFailed("the server did not answer with HTTP")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


def _check_accept(headers: dict[str, str], key: str) -> None:
    digest = hashlib.sha1((key + _GUID).encode("ascii")).digest()
    expected = base64.b64encode(digest).decode("ascii")
    if headers.get("upgrade", "").lower() != "websocket" or \
            headers.get("sec-websocket-accept") != expected:
        raise ConnectFailed("the server answered 101 but not with a valid WebSocket upgrade")


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the connect deadline passed")
    return left
