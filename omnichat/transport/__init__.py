"""The WebSocket to the service: open, send, receive, ping, probe, close — and nothing else.

``Transport`` (``base``) is the interface the engine uses; ``WebSocketTransport``
(``connection``) is the real one: websockets' Sans-I/O ``ClientProtocol`` does the WebSocket
work, under omnichat's own bounded socket I/O (``socket_io``). ``upgrade`` opens and upgrades
the socket under one deadline and size caps, ``proxy`` tunnels through an HTTP proxy,
``status`` turns failures into one line plus ``retryable``, and ``backoff`` computes
reconnect delays. ``docs/security.md`` describes the guarantees.
"""

from omnichat.transport.backoff import Backoff
from omnichat.transport.base import CLOSE_NORMAL, Transport
from omnichat.transport.connection import (
    CONNECT_TIMEOUT_S,
    IO_TIMEOUT_S,
    MAX_FRAME_BYTES,
    PING_INTERVAL_S,
    WebSocketTransport,
)
from omnichat.transport.socket_io import MAX_HEADER_BYTES, MAX_HEADER_LINES

__all__ = ["CLOSE_NORMAL", "CONNECT_TIMEOUT_S", "IO_TIMEOUT_S", "MAX_FRAME_BYTES",
           "MAX_HEADER_BYTES", "MAX_HEADER_LINES", "PING_INTERVAL_S", "Backoff", "Transport",
           "WebSocketTransport"]
