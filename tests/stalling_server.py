"""A TCP server on 127.0.0.1 that accepts connections and never completes an answer:
silent, or sending a given prefix one byte at a time (each byte well inside any
per-operation timeout, so only a deadline on the whole exchange ends the read)."""

from __future__ import annotations

import socket
import threading


class StallingServer:
    """Accepts connections on an ephemeral loopback port; sends each one ``drip`` one byte
    every ``interval`` seconds (nothing when ``drip`` is empty) and never more."""

    def __init__(self, *, drip: bytes = b"", interval: float = 0.05) -> None:
        self.drip = drip
        self.interval = interval
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def connections(self) -> int:
        """How many connections it has accepted."""
        return len(self._conns)

    def _accept(self) -> None:
        self._listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            self._conns.append(conn)
            if self.drip:
                threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        for byte in self.drip:
            if self._stop.wait(self.interval):
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join()
        for conn in self._conns:
            conn.close()
