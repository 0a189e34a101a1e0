"""Direct links between a cluster's partitions: the level-by-level data path of `cluster.py`.

Dask carries an actor call through both workers' event loops, and on this machine that took
about 0.2 CPU seconds a worker for a two-worker search of 65 levels (four messages a level,
each costing its event loop about a millisecond), on a machine with no core to spare. Here each
partition opens one TCP connection to each peer, beside Dask's own, and a message is a pickle
with its length in front: the bytes of a batch go from one search thread to the other through
the kernel, and no event loop sees them.

A thread per peer writes that peer's queue, so that sending never waits for a receiver (a
receiver may itself be sending: two partitions sending each other more than the sockets'
buffers hold would otherwise wait for each other for ever); a thread per peer reads and hands
each message to the partition. A link that breaks (a peer died) is reported to the partition
at once, so that it stops waiting and fails in one line. A connection counts only if it
starts with the search's secret (sent to the partitions through Dask), so that nothing else
that reaches the port during the join can pose as a peer; the messages are pickles, trusted as
Dask's own ``tcp://`` messages are.
"""

from __future__ import annotations

import hmac
import pickle
import queue
import socket
import threading
from collections.abc import Callable
from typing import Any

_BYE = "bye"  # a peer's last message: its link closes after it, as it should
_ABORT = "abort"  # a peer's last message when it failed, with the reason
_HEAD = 8  # bytes of a message's length, little-endian


class LinkBroken(Exception):
    """A peer's link closed or failed before its last message (the message says which)."""


def link_host(worker_address: str) -> str | None:
    """The host a partition on the worker at ``worker_address`` listens on: the worker's own
    for a plain TCP address, this machine for workers that are threads of this process; None
    for any other transport (TLS, UCX, websockets), where the partitions keep Dask's messages
    rather than open unencrypted or unroutable connections beside them."""
    scheme, _, rest = worker_address.partition("://")
    if scheme == "inproc":
        return "127.0.0.1"
    if scheme != "tcp":
        return None
    host = rest.rsplit(":", 1)[0]
    return host[1:-1] if host.startswith("[") else host  # an IPv6 address comes in brackets


class Links:
    """One partition's links: made first on every partition (each then listens on its
    `address`), then `join`ed with every partition's address."""

    def __init__(self, host: str):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.server = socket.create_server((host, 0), family=family, backlog=128)
        self.address = (host, self.server.getsockname()[1])
        self.outgoing: dict[int, queue.Queue] = {}
        self.threads: list[threading.Thread] = []
        self.failure: LinkBroken | None = None

    def join(self, index: int, addresses: list[tuple[str, int]], secret: bytes, handle: Callable[..., None],
             broken: Callable[[], None], timeout: float) -> None:
        """Connect to every peer, and take each peer's connection to this one (one that does
        not start with ``secret`` is closed); then pass every message that comes to
        ``handle(*message)`` (from the thread reading that peer), and call ``broken()`` if a
        link fails (``failure`` then says how)."""
        self.broken = broken
        for peer, address in enumerate(addresses):
            if peer == index:
                continue
            out = socket.create_connection(address, timeout=timeout)
            out.settimeout(None)
            out.sendall(secret + index.to_bytes(_HEAD, "little"))
            self.outgoing[peer] = queue.Queue()
            self._start(self._write, out, peer)
        self.server.settimeout(timeout)
        joined: set[int] = set()
        while len(joined) < len(addresses) - 1:
            conn, _ = self.server.accept()
            conn.settimeout(timeout)
            first = _exactly(conn, len(secret) + _HEAD) or b""
            peer = int.from_bytes(first[len(secret):], "little")
            if not hmac.compare_digest(bytes(first[:len(secret)]), secret) or peer in joined \
                    or not 0 <= peer < len(addresses) or peer == index:
                conn.close()
                continue
            conn.settimeout(None)
            joined.add(peer)
            self._start(self._read, conn, peer, handle)
        self.server.close()

    def _start(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name=f"link-{target.__name__}")
        thread.start()
        self.threads.append(thread)

    def send(self, peer: int, *message: Any) -> None:
        """Queue ``message`` for ``peer``."""
        self.outgoing[peer].put(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def check(self) -> None:
        if self.failure is not None:
            raise self.failure

    def close(self) -> None:
        """Send every queued message and a last one, then close this partition's side."""
        self._last(_BYE)
        for q in self.outgoing.values():
            q.join()

    def abort(self, reason: str) -> None:
        """This partition failed: tell every peer why, as its last message, and close."""
        self._last(_ABORT, reason)

    def _last(self, *message: Any) -> None:
        """Queue ``message`` for every peer, then the end of its writer."""
        for peer, q in self.outgoing.items():
            self.send(peer, *message)
            q.put(None)

    def _write(self, sock: socket.socket, peer: int) -> None:
        q, broken = self.outgoing[peer], False
        try:
            while (frame := q.get()) is not None:  # (after None, this side is closed: nothing more)
                try:
                    if not broken:
                        sock.sendall(len(frame).to_bytes(_HEAD, "little"))
                        sock.sendall(frame)
                except OSError as exc:
                    broken = True
                    self._fail(f"the link to partition {peer} failed: {exc}")
                finally:
                    q.task_done()
            q.task_done()
        finally:
            sock.close()

    def _read(self, sock: socket.socket, peer: int, handle: Callable[..., None]) -> None:
        try:
            while True:
                head = _exactly(sock, _HEAD)
                body = _exactly(sock, int.from_bytes(head, "little")) if head is not None else None
                if body is None:
                    self._fail(f"partition {peer}'s link closed before its last message (its worker died?)")
                    return
                message = pickle.loads(body)
                if message == (_BYE,):
                    return
                if message[0] == _ABORT:
                    self._fail(f"partition {peer} stopped: {message[1]}")
                    return
                handle(*message)
        except OSError as exc:
            self._fail(f"the link from partition {peer} failed: {exc}")
        except Exception as exc:  # the partition's handler: its error is the search's
            self._fail(f"handling a message from partition {peer}: {type(exc).__name__}: {exc}")
        finally:
            sock.close()

    def _fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = LinkBroken(reason)
        self.broken()


def _exactly(sock: socket.socket, n: int) -> bytearray | None:
    """The next ``n`` bytes from ``sock``, or None if it closes first."""
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:])
        if not k:
            return None
        got += k
    return buf
