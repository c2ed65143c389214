"""What a failed connect means: the one-line reason and whether retrying can help.

Retryable: the network (refused, unreachable, timed out, dropped) and the server's own
trouble (5xx, 408, 429). Final: a refused key (401/403), any other 4xx (an unknown model), a
redirect (never followed: the key would go with it) and TLS failures.
"""

from __future__ import annotations

import socket
import ssl

from websockets.datastructures import Headers
from websockets.http11 import Response

from omnichat.errors import AuthFailed, ConnectFailed

_RETRYABLE_STATUS = (408, 425, 429)
_LOCATION_CHARS = 200


def status_error(response: Response, url: str, region: str, key_env: str) -> ConnectFailed:
    """The error for a handshake answered with anything but 101."""
    status = response.status_code
    if status in (401, 403):
        where = f"region '{region}'" if region else url
        env = f" (set {key_env} to a key of that region)" if key_env else ""
        return AuthFailed(f"the service refused the API key for {where}: HTTP {status}{env}")
    if 300 <= status < 400:
        target = printable(first_header(response.headers, "Location")) or "an unnamed location"
        return ConnectFailed(f"cannot connect to {url}: the server redirected (HTTP {status}) "
                             f"to {target}; omnichat "
                             "never follows redirects, so the API key is not sent there "
                             "(set the endpoint to that address if you trust it)")
    retryable = status >= 500 or status in _RETRYABLE_STATUS
    return ConnectFailed(f"cannot connect to {url}: the server answered HTTP {status}",
                         retryable=retryable)


def reason(exc: OSError, timeout_s: float) -> tuple[str, bool]:
    """(one-line reason, retryable) for a socket-level failure."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the TLS certificate is not trusted ({exc.verify_message})", False
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or type(exc).__name__})", False
    if isinstance(exc, socket.gaierror):
        return ("the host name does not resolve; check the region name (--region intl or "
                "cn) or the region's url, the network, and a proxy (https_proxy)"), True
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused", True
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout_s:g} s", True
    return printable(exc.strerror or str(exc)) or type(exc).__name__, True


def printable(text: str) -> str:
    """Server-chosen text, shown in one short line: printable ASCII only, cut to length."""
    clean = "".join(c if " " <= c <= "~" else "?" for c in text)
    return clean if len(clean) <= _LOCATION_CHARS else clean[:_LOCATION_CHARS] + "..."


def first_header(headers: Headers, name: str) -> str:
    """The first value of header ``name``, or "" (never raises on repeated headers)."""
    values = headers.get_all(name)
    return values[0] if values else ""
