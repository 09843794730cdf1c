"""A TCP relay on loopback between a client and a service, whose connections a test can cut:
a network failure between them, both processes alive (what a Wi-Fi drop or a NAT timeout does
to a client's connection to the manager)."""
from __future__ import annotations

import socket
import threading
from typing import List


class Relay:
    def __init__(self, target_port: int):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.refusing = False  # while True, new connections are closed at once
        self.accepted = 0
        self._sockets: List[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = False
        self._pumps: List[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self.accepted += 1
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                pump = threading.Thread(target=self._pump, args=(source, sink), daemon=True)
                pump.start()
                self._pumps.append(pump)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(1 << 16)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        """Break every connection now (each end sees a reset or an EOF)."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        """Stop relaying; its threads and sockets are gone when this returns."""
        self._stopped = True
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (closing alone does not)
        self._acceptor.join(10)
        self.listener.close()
        self.cut()
        for pump in self._pumps:
            pump.join(10)
