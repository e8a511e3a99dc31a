"""A real DNS server over UDP in a thread, for tests that need a resolver answering in a way
the lab's do not (two answers to one query, a name's AAAA only, the asker's own address)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterable, Iterator

import dns.message

# The replies to one query from one asker, sent in order; a generator may pause between them.
Answer = Callable[[dns.message.Message, tuple[str, int]], Iterable[dns.message.Message]]


@contextlib.contextmanager
def udp_nameserver(
    answer: Answer, address: str = "127.0.0.1", port: int = 0
) -> Iterator[tuple[str, int]]:
    """Serve ``answer`` on ``address``:``port`` (0: a free port) until the block ends; yields
    the address and port it listens on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, port))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                wire, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            for reply in answer(dns.message.from_wire(wire), peer):
                sock.sendto(reply.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()
    finally:
        stop.set()
        thread.join()
        sock.close()
