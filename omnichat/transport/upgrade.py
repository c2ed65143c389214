"""Opening a WebSocket: TCP, TLS and the HTTP upgrade, under one deadline and size caps.

websockets' Sans-I/O ``ClientProtocol`` writes the upgrade request and checks the 101 answer
(``Upgrade``, ``Connection``, ``Sec-WebSocket-Accept``); this module moves the bytes with
``socket_io``, so the whole connect has one deadline (a 101 trickled a byte a second fails at
the deadline), the response head is capped before it is parsed, and an answer other than 101
is returned as it is: redirects are never followed (the ``Authorization`` header would go
with them). TLS always verifies the certificate and host name. Plain functions, called by
the transport's ``connect`` on the caller's thread; ``proxy`` tunnels.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Mapping

from websockets.client import ClientProtocol
from websockets.http11 import Response
from websockets.uri import WebSocketURI

from omnichat.errors import ConfigError, ConnectFailed
from omnichat.transport.proxy import proxy_for, tunnel
from omnichat.transport.socket_io import parse_head, read_head, remaining, send_all
from omnichat.transport.target import Target

# websockets logs every request header (the key among them) and every frame when its logger
# is enabled for DEBUG, as an embedding application or `pytest --log-level` may set the root
# logger. Its connections get this logger instead, which never is; warnings still propagate.
_PROTOCOL_LOGGER = logging.getLogger("omnichat.transport.websockets")
_PROTOCOL_LOGGER.setLevel(logging.INFO)


def check_key(api_key: str | None) -> None:
    """A key with a line break would inject headers into the request; never echo it."""
    if api_key is not None and any(not 0x21 <= ord(c) < 0x7F for c in api_key):
        raise ConfigError("the API key contains spaces, control or non-ASCII characters; "
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


def new_protocol(target: Target, max_message_bytes: int) -> ClientProtocol:
    """websockets' client state machine for ``target``; the URL's user info is never used."""
    path, _, query = target.resource.partition("?")
    uri = WebSocketURI(target.secure, target.host, target.port, path, query)
    return ClientProtocol(uri, max_size=max_message_bytes, logger=_PROTOCOL_LOGGER)


def upgrade(sock: socket.socket, protocol: ClientProtocol, api_key: str | None,
            deadline: float, headers: Mapping[str, str] | None = None) -> Response:
    """Send the upgrade request and read the answer, all before ``deadline``.

    On a 101, the answer and the bytes after it go to ``protocol``, which is then OPEN
    (its first frames may already be waiting in ``events_received``). Any other status is
    returned without reading a body; the caller turns it into an error.
    """
    request = protocol.connect()
    request.headers["User-Agent"] = "omnichat"
    for name, value in (headers or {}).items():  # extra headers: the workspace (qwen38.md)
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name + value):
            raise ConfigError(f"the {name} header contains control characters; fix its value")
        request.headers[name] = value
    if api_key:
        request.headers["Authorization"] = f"Bearer {api_key}"
    protocol.send_request(request)
    for data in protocol.data_to_send():
        send_all(sock, data, remaining(deadline))
    head, rest = read_head(sock, deadline)
    response = parse_head(head)
    if response.status_code != 101:
        return response
    protocol.receive_data(head + rest)
    if protocol.handshake_exc is not None:
        raise ConnectFailed("the server answered 101 but not with a valid WebSocket upgrade")
    return response
