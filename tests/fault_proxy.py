"""A loopback TCP proxy for fault tests: client <-> proxy <-> upstream (e.g. the emulator).

``FaultProxy(host, port)`` listens on 127.0.0.1; each accepted connection is paired with a new
upstream connection and pumped by one thread (``omnichat-test-proxy``) that blocks in
``select`` for at most ``_TICK_S`` at a time, so the commands take effect promptly:

- ``cut()``      shut every current connection down at once (a dropped network);
- ``stall()``    stop forwarding in both directions on the connections open now, but keep
                 the sockets open (a dead link that never says so); ``hang_connects()``
                 does the same to every connection accepted from now on (the TCP connect
                 succeeds, the handshake never gets an answer); ``resume()`` undoes both;
- ``inject(b)``  write raw bytes into the server->client stream (corruption at a point the
                 test chooses); ``flip_next(n)`` XORs the next n server->client bytes.

``close()`` cuts everything and joins every thread. Buffers are bounded: while the far side
does not take data, the pump stops reading from the near side.
"""

from __future__ import annotations

import select
import socket
import threading

_TICK_S = 0.02
_CHUNK_BYTES = 65536


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()  # guards the fields below (commands vs pump threads)
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._threads: list[threading.Thread] = []
        self._stalled: set[socket.socket] = set()  # the client socket of each stalled pair
        self._hang_new = False
        self._inject = b""
        self._flip = 0
        self._stop = threading.Event()
        self.connections = 0
        self._accepter = threading.Thread(target=self._accept_loop, name="omnichat-test-proxy")
        self._accepter.start()

    def url(self, emulator_url: str) -> str:
        """``emulator_url`` with the proxy's port in place of the emulator's."""
        host, port = self._upstream
        return emulator_url.replace(f"{host}:{port}", f"127.0.0.1:{self.port}", 1)

    # ---- commands ---------------------------------------------------------------------

    def cut(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                _shutdown(sock)

    def stall(self) -> None:
        with self._lock:
            self._stalled.update(client for client, _ in self._pairs)

    def hang_connects(self) -> None:
        with self._lock:
            self._hang_new = True

    def resume(self) -> None:
        with self._lock:
            self._stalled.clear()
            self._hang_new = False

    def inject(self, data: bytes) -> None:
        with self._lock:
            self._inject += data

    def flip_next(self, count: int) -> None:
        with self._lock:
            self._flip += count

    # ---- threads ----------------------------------------------------------------------

    def _accept_loop(self) -> None:
        """Blocks in accept(); unblocked by close() shutting the listener down."""
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(self._upstream, timeout=5.0)
            except OSError:
                return
            self.connections += 1
            with self._lock:
                self._pairs.append((client, upstream))
                if self._hang_new:
                    self._stalled.add(client)
            thread = threading.Thread(target=self._pump, args=(client, upstream),
                                      name="omnichat-test-proxy-pump")
            self._threads.append(thread)
            thread.start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        """Forwards both ways; blocks in select() at most _TICK_S; ends on EOF, cut or close."""
        try:
            while not self._stop.is_set():
                if not self._step(client, upstream):
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self._stalled.discard(client)
            for sock in (client, upstream):
                _shutdown(sock)
                sock.close()

    def _step(self, client: socket.socket, upstream: socket.socket) -> bool:
        with self._lock:
            stalled, inject, self._inject = client in self._stalled, self._inject, b""
        if inject:
            client.sendall(inject)
        if stalled:
            self._stop.wait(_TICK_S)
            return True
        readable, _, _ = select.select([client, upstream], [], [], _TICK_S)
        for sock in readable:
            data = sock.recv(_CHUNK_BYTES)
            if not data:
                return False
            if sock is upstream:
                client.sendall(self._corrupt(data))
            else:
                upstream.sendall(data)
        return True

    def _corrupt(self, data: bytes) -> bytes:
        with self._lock:
            count, self._flip = min(self._flip, len(data)), max(0, self._flip - len(data))
        if not count:
            return data
        return bytes(b ^ 0xFF for b in data[:count]) + data[count:]

    def close(self) -> None:
        self._stop.set()
        _shutdown(self._listener)
        self.cut()
        self._accepter.join(10.0)
        for thread in self._threads:
            thread.join(10.0)
        self._listener.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
