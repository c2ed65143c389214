"""Opening a WebSocket: TCP, TLS and the HTTP upgrade, under one deadline and size caps.

Written here rather than left to websocket-client because every part of it must be bounded
against a hostile or broken server: the whole connect has one deadline (a 101 trickled a byte
a second fails at the deadline), the response head is capped in bytes and lines (a 200 MB
header line or two million header lines fail at the cap), redirects are never followed (the
``Authorization`` header would go with them), and TLS always verifies the certificate and
host name. Plain functions, called by the transport's ``connect`` on the caller's thread.
``target`` parses the URL, ``head`` reads a bounded HTTP head, ``proxy`` tunnels.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

from omnichat.errors import ConfigError, ConnectFailed
from omnichat.transport.head import parse_head, read_head, remaining
from omnichat.transport.proxy import proxy_for, tunnel
from omnichat.transport.target import Target

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str] = field(repr=False)
    rest: bytes = field(repr=False)  # bytes after the head: the start of the first frame


def check_key(api_key: str | None) -> None:
    """A key with a line break would inject headers into the request; never echo it."""
    if api_key is not None and any(ord(c) < 0x21 or ord(c) == 0x7F for c in api_key):
        raise ConfigError("the API key contains spaces or control characters; "
                          "copy it again from the console")


def open_socket(target: Target, deadline: float,
                ssl_context: ssl.SSLContext | None = None) -> socket.socket:
    """A connected TCP socket (through the environment's proxy, if any), wrapped in verified
    TLS for wss://."""
    proxy = proxy_for(target)
    address = (proxy.host, proxy.port) if proxy else (target.host, target.port)
    sock = socket.create_connection(address, timeout=remaining(deadline))
    try:
        if proxy is not None:
            tunnel(sock, target, proxy, deadline)
        if not target.secure:
            return sock
        context = ssl_context or ssl.create_default_context()
        sock.settimeout(remaining(deadline))
        return context.wrap_socket(sock, server_hostname=target.host)
    except BaseException:
        sock.close()
        raise


def upgrade(sock: socket.socket, target: Target, api_key: str | None,
            deadline: float, headers: Mapping[str, str] | None = None) -> Response:
    """Send the upgrade request and read the response head, all before ``deadline``."""
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    sock.settimeout(remaining(deadline))
    sock.sendall(_request(target, key, api_key, headers or {}))
    head, rest = read_head(sock, deadline)
    status, headers = parse_head(head)
    if status == 101:
        _check_accept(headers, key)
    return Response(status, headers, rest)


def _request(target: Target, key: str, api_key: str | None,
             headers: Mapping[str, str]) -> bytes:
    lines = [f"GET {target.resource} HTTP/1.1", f"Host: {target.host_header}",
             "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
             "Sec-WebSocket-Version: 13", "User-Agent: omnichat"]
    for name, value in headers.items():
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name + value):
            raise ConfigError(f"the {name} header contains control characters; fix its value")
        lines.append(f"{name}: {value}")
    if api_key:
        lines.append(f"Authorization: Bearer {api_key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _check_accept(headers: dict[str, str], key: str) -> None:
    digest = hashlib.sha1((key + _GUID).encode("ascii")).digest()
    expected = base64.b64encode(digest).decode("ascii")
    if headers.get("upgrade", "").lower() != "websocket" or \
            headers.get("sec-websocket-accept") != expected:
        raise ConnectFailed("the server answered 101 but not with a valid WebSocket upgrade")


