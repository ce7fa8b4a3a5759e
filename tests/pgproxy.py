"""A TCP proxy on 127.0.0.1 in front of PostgreSQL that counts statements and cuts after one.

A statement boundary is a ReadyForQuery message from the server: the server has finished a
statement (a simple query, an extended-protocol Sync, a COPY) and waits for the next. The
proxy numbers these boundaries across all connections in the order they pass, and keeps the
text of each statement. Armed with `cut_after=i`, it forwards the i-th boundary (the client
learns the outcome of statement i), then holds every byte a client sends after it, on every
connection, old or new: the client does whatever it does before its next statement, then
waits. `tripped` is set at the i-th boundary and `held` once a client has sent something
after it. Then `sever()` closes both sides of every connection (the network cut), or the
test kills the client; `partition(seconds)` refuses connections and drops live ones for a
while, as a network that is gone.

Only the parts of the protocol needed to find message boundaries are parsed: the untyped
startup packets (an SSL or GSS request gets a one-byte answer), then typed messages.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass, field

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
STARTUP_V3 = 196608


@dataclass
class _Conn:
    client: socket.socket
    server: socket.socket
    pending_answers: int = 0  # one-byte answers the server owes (SSL/GSS requests)
    ready_seen: bool = False  # the first ReadyForQuery only ends the start-up
    last_query: str = ""
    statements: dict[str, str] = field(default_factory=dict)  # prepared name -> text
    closed: threading.Event = field(default_factory=threading.Event)


class CuttingProxy:
    def __init__(self, upstream: tuple[str, int] | str) -> None:
        """upstream: (host, port), or the path of the server's Unix socket."""
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.statements: list[str] = []  # the text of each completed statement, in order
        self.cut_after: int | None = None
        self.tripped = threading.Event()
        self.held = threading.Event()
        self.refuse_until = 0.0
        self.conns: list[_Conn] = []
        self._accepting = True
        threading.Thread(target=self._accept, name="pgproxy-accept", daemon=True).start()

    @property
    def dsn_params(self) -> dict[str, str]:
        return {"host": "127.0.0.1", "port": str(self.port)}

    def arm(self, cut_after: int | None) -> None:
        """Start counting afresh; cut after statement `cut_after` (None: never)."""
        with self.lock:
            self.statements = []
            self.cut_after = cut_after
            self.tripped.clear()
            self.held.clear()

    def sever(self) -> None:
        """Close both sides of every connection, as a network cut; new ones may connect."""
        with self.lock:
            conns, self.conns = self.conns, []
            self.cut_after = None
        for conn in conns:
            conn.closed.set()
            _close(conn.client)
            _close(conn.server)
        self.tripped.clear()
        self.held.clear()

    def partition(self, seconds: float) -> None:
        """Drop every connection and refuse new ones for `seconds`."""
        self.refuse_until = time.monotonic() + seconds
        self.sever()

    def close(self) -> None:
        self._accepting = False
        _close(self.listener)
        self.sever()

    def _accept(self) -> None:
        while self._accepting:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if time.monotonic() < self.refuse_until:
                _close(client)
                continue
            try:
                server = self._connect_upstream()
            except OSError:
                _close(client)
                continue
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(client, server)
            with self.lock:
                self.conns.append(conn)
            for target in (self._from_client, self._from_server):
                threading.Thread(target=target, args=(conn,), daemon=True).start()

    def _connect_upstream(self) -> socket.socket:
        if isinstance(self.upstream, str):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self.upstream)
            return sock
        return socket.create_connection(self.upstream)

    def _from_client(self, conn: _Conn) -> None:
        reader = _Reader(conn.client)
        try:
            while True:  # start-up: untyped packets until the StartupMessage
                packet = reader.exact(4)
                body = reader.exact(struct.unpack("!I", packet)[0] - 4)
                code = struct.unpack("!I", body[:4])[0]
                if code in (SSL_REQUEST, GSSENC_REQUEST):
                    conn.pending_answers += 1
                self._forward(conn, packet + body)
                if code not in (SSL_REQUEST, GSSENC_REQUEST):
                    break
            while True:
                chunk = reader.messages()
                for kind, body in _split(chunk):
                    self._note_query(conn, kind, body)
                self._forward(conn, chunk)
        except OSError:
            pass
        finally:
            _close(conn.server)

    @staticmethod
    def _note_query(conn: _Conn, kind: bytes, body: bytes) -> None:
        if kind == b"Q":
            conn.last_query = body[:-1].decode(errors="replace")
        elif kind == b"P":
            name, rest = body.split(b"\0", 1)
            conn.last_query = rest.split(b"\0", 1)[0].decode(errors="replace")
            conn.statements[name.decode()] = conn.last_query
        elif kind == b"B":
            name = body.split(b"\0", 2)[1].decode()
            conn.last_query = conn.statements.get(name, conn.last_query)

    def _forward(self, conn: _Conn, data: bytes) -> None:
        """Send client bytes upstream, unless the cut has tripped: then hold them for good."""
        if self.tripped.is_set():
            self.held.set()
            conn.closed.wait()
            raise ConnectionResetError("severed")
        conn.server.sendall(data)

    def _from_server(self, conn: _Conn) -> None:
        reader = _Reader(conn.server)
        try:
            while True:
                chunk = reader.messages(conn)
                if conn.pending_answers and len(chunk) == 1:
                    conn.pending_answers -= 1
                    conn.client.sendall(chunk)
                    continue
                for kind, _ in _split(chunk):
                    if kind == b"Z":
                        if conn.ready_seen:
                            self._completed(conn)
                        conn.ready_seen = True
                conn.client.sendall(chunk)
        except OSError:
            pass
        finally:
            _close(conn.client)

    def _completed(self, conn: _Conn) -> None:
        with self.lock:
            self.statements.append(conn.last_query)
            if self.cut_after is not None and len(self.statements) >= self.cut_after:
                self.tripped.set()


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionResetError("closed")
        self.buffer += chunk

    def exact(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def messages(self, conn: _Conn | None = None) -> bytes:
        """Every whole typed message that has arrived, at least one; or, when the server
        owes `conn` the one-byte answer to an SSL or GSS request, that byte."""
        while True:
            if conn is not None and conn.pending_answers and self.buffer:
                return self.exact(1)
            end = 0
            while len(self.buffer) >= end + 5:
                size = struct.unpack("!I", self.buffer[end + 1 : end + 5])[0]
                if len(self.buffer) < end + 1 + size:
                    break
                end += 1 + size
            if end:
                data, self.buffer = self.buffer[:end], self.buffer[end:]
                return data
            self._fill()


def _split(chunk: bytes) -> list[tuple[bytes, bytes]]:
    out, at = [], 0
    while at < len(chunk):
        size = struct.unpack("!I", chunk[at + 1 : at + 5])[0]
        out.append((chunk[at : at + 1], chunk[at + 5 : at + 1 + size]))
        at += 1 + size
    return out


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
