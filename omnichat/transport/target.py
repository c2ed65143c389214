"""Where a ws:// or wss:// URL points, and whether it may be reached unencrypted."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from omnichat.errors import ConfigError

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
