"""HTTP proxies from the environment: a CONNECT tunnel, bounded like the handshake.

``https_proxy`` is used for wss:// and ``http_proxy`` for ws:// (``all_proxy`` for both), as
curl and websocket-client do; ``no_proxy`` is honoured and loopback never goes through a
proxy. Only ``http://`` proxies are supported. TLS to the service runs inside the tunnel, so
the proxy sees neither the key nor the audio; the proxy's own credentials, if the proxy URL
has any, go in ``Proxy-Authorization`` and are never shown in a message.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit
from urllib.request import (  # type: ignore[attr-defined]
    getproxies_environment,
    proxy_bypass_environment,
)

from omnichat.errors import ConfigError, ConnectFailed
from omnichat.transport.socket_io import parse_head, read_head, remaining, send_all
from omnichat.transport.target import Target, is_loopback


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"


def proxy_for(target: Target, proxies: Mapping[str, str] | None = None) -> Proxy | None:
    """The proxy the environment asks for to reach ``target``, if any."""
    if is_loopback(target.host):
        return None
    env = dict(getproxies_environment() if proxies is None else proxies)
    url = env.get("https" if target.secure else "http") or env.get("all")
    if not url or proxy_bypass_environment(target.host, env):
        return None
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http" or not parts.hostname:
        raise ConfigError(f"the proxy setting for {target.host} is not an http:// proxy URL; "
                          "fix https_proxy/http_proxy or add the host to no_proxy")
    authorization = None
    if parts.username:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    return Proxy(parts.hostname, parts.port or 8080, authorization)


def tunnel(sock: socket.socket, target: Target, proxy: Proxy, deadline: float) -> None:
    """Ask the proxy (already connected on ``sock``) for a tunnel to ``target``."""
    address = f"{target.host}:{target.port}"
    lines = [f"CONNECT {address} HTTP/1.1", f"Host: {address}"]
    if proxy.authorization:
        lines.append(f"Proxy-Authorization: {proxy.authorization}")
    send_all(sock, ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"), remaining(deadline))
    head, rest = read_head(sock, deadline)
    status = parse_head(head).status_code
    if status != 200:
        raise ConnectFailed(f"the proxy {proxy.name} refused the tunnel: HTTP {status}",
                            retryable=status >= 500)
    if rest:
        raise ConnectFailed(f"the proxy {proxy.name} sent data before the tunnel was open")
