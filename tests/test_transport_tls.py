"""TLS: certificates are always verified. A self-signed loopback wss:// server is refused in one
line (final, not retried); the same server is accepted once its certificate is trusted, which
shows the refusal is the verification and not a broken TLS setup."""

from __future__ import annotations

import shutil
import ssl
import subprocess

import pytest
from hostile_server import HostileServer, handshake, text_frame

from omnichat.errors import ConnectFailed
from omnichat.transport import WebSocketTransport

SECRET = "sk-test-secret-0123456789"


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    """(cert path, key path) of a self-signed certificate for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def _tls_server(cert, key) -> HostileServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def handler(conn, server):
        with context.wrap_socket(conn, server_side=True) as tls:
            handshake(tls, server)
            tls.sendall(text_frame('{"type":"session.finished"}'))
            server.stop.wait(10.0)

    return HostileServer(handler)


def test_an_untrusted_certificate_is_refused_in_one_line(self_signed):
    with _tls_server(*self_signed) as server:
        transport = WebSocketTransport(server.url(scheme="wss"), SECRET)
        with pytest.raises(ConnectFailed, match="TLS certificate is not trusted") as info:
            transport.connect()
        assert server.requests == []  # the key was never sent
    message = str(info.value)
    assert "\n" not in message and SECRET not in message and not info.value.retryable


def test_a_trusted_certificate_is_accepted(self_signed):
    cert, _ = self_signed
    with _tls_server(*self_signed) as server:
        transport = WebSocketTransport(server.url(scheme="wss"), SECRET,
                                       ssl_context=ssl.create_default_context(cafile=cert))
        transport.connect()
        try:
            assert transport.recv().type == "session.finished"
            assert SECRET.encode() in server.requests[0]
        finally:
            transport.close()
            transport.release()


def test_the_host_name_is_verified_too(self_signed):
    cert, _ = self_signed
    with _tls_server(*self_signed) as server:
        url = server.url(scheme="wss").replace("127.0.0.1", "localhost")
        transport = WebSocketTransport(url, SECRET,
                                       ssl_context=ssl.create_default_context(cafile=cert))
        with pytest.raises(ConnectFailed, match="TLS"):
            transport.connect()
