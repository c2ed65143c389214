"""HTTP CONNECT proxies from the environment: the tunnel reaches the real emulator, loopback
and no_proxy hosts bypass the proxy, and a refusing proxy is one line without its password."""

from __future__ import annotations

import select
import socket
from urllib.parse import urlsplit

import pytest
from hostile_server import HostileServer, read_request, respond

from omnichat.errors import ConfigError, ConnectFailed
from omnichat.transport import WebSocketTransport
from omnichat.transport.proxy import proxy_for
from omnichat.transport.target import parse_target

FAR = "ws://realtime.omnichat.test/api-ws/v1/realtime?model=qwen3.5-omni-plus-realtime"


def _connect_proxy(upstream_port: int):
    """A CONNECT proxy that tunnels every request to 127.0.0.1:upstream_port."""

    def handler(conn, server):
        read_request(conn, server)
        with socket.create_connection(("127.0.0.1", upstream_port), timeout=5) as upstream:
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            while not server.stop.is_set():
                readable, _, _ = select.select([conn, upstream], [], [], 0.05)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is conn else conn).sendall(data)

    return handler


def test_a_connect_proxy_tunnels_to_the_service(emulator, monkeypatch):
    with HostileServer(_connect_proxy(urlsplit(emulator.url).port)) as proxy:
        monkeypatch.setenv("http_proxy", f"http://user:pw@127.0.0.1:{proxy.port}")
        transport = WebSocketTransport(FAR, None, allow_insecure=True)
        transport.connect()
        try:
            assert transport.recv().type == "session.created"
        finally:
            transport.close()
            transport.release()
        request = proxy.requests[0].decode()
    assert request.startswith("CONNECT realtime.omnichat.test:80 HTTP/1.1")
    assert "Proxy-Authorization: Basic dXNlcjpwdw==" in request


def test_a_refusing_proxy_is_one_line_without_its_credentials(monkeypatch):
    with HostileServer(respond("407 Proxy Authentication Required")) as proxy:
        monkeypatch.setenv("http_proxy", f"http://user:hunter2@127.0.0.1:{proxy.port}")
        with pytest.raises(ConnectFailed, match="407") as info:
            WebSocketTransport(FAR, None, allow_insecure=True).connect()
    assert "hunter2" not in str(info.value) and "\n" not in str(info.value)
    assert not info.value.retryable


def test_which_hosts_use_a_proxy():
    far = parse_target("wss://dashscope-intl.aliyuncs.com/x", allow_insecure=False)
    proxies = {"https": "http://10.0.0.1:3128", "no": "example.org"}
    assert proxy_for(far, proxies).name == "10.0.0.1:3128"
    assert proxy_for(far, {"http": "http://10.0.0.1:3128"}) is None  # ws:// only
    assert proxy_for(far, {**proxies, "no": ".aliyuncs.com"}) is None
    assert proxy_for(parse_target("wss://127.0.0.1:1/x", False), proxies) is None
    assert proxy_for(far, {"all": "10.0.0.2:8000"}).name == "10.0.0.2:8000"
    with pytest.raises(ConfigError, match="http://"):
        proxy_for(far, {"https": "socks5://10.0.0.1:1080"})
