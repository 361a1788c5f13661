"""Load on the app: its page text, bounded and continuous request generators, and slow clients."""

import http.client
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

SEEN = re.compile(r"This page has been seen (\d+) times\.")


def bounded_load(url: str, total: int, connections: int, timeout: float = 10) -> Counter:
    """Sends exactly `total` GETs over `connections` keep-alive connections and awaits every response.

    Returns a Counter of status codes, plus "error" for requests that got no response, so a caller can
    compare it with what the server did (e.g. a counter that must rise by exactly the 200s)."""
    parts = urlsplit(url)

    def one_connection(count: int) -> Counter:
        statuses = Counter()
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        for _ in range(count):
            try:
                connection.request("GET", parts.path or "/")
                response = connection.getresponse()
                response.read()
                statuses[response.status] += 1
            except (OSError, http.client.HTTPException):
                statuses["error"] += 1
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        connection.close()
        return statuses

    shares = [total // connections + (1 if index < total % connections else 0) for index in range(connections)]
    with ThreadPoolExecutor(max_workers=connections) as pool:
        return sum(pool.map(one_connection, shares), Counter())


class Traffic(threading.Thread):
    """GETs a URL in a loop on one keep-alive session, recording every status ("error" for no response), when
    each request began and ended (`time.monotonic()`) and every count a page showed, until stopped; it stops by
    itself after `limit` requests or `seconds`."""

    def __init__(self, url: str, limit: int = 100_000, seconds: float = 300):
        super().__init__(daemon=True)
        self.url, self.limit, self.seconds = url, limit, seconds
        self.statuses, self.spans, self.counts = [], [], []
        self._stop_requested = threading.Event()

    @property
    def highest_seen(self) -> int:
        return max(self.counts, default=0)

    def run(self):
        session = requests.Session()
        deadline = time.monotonic() + self.seconds
        while not self._stop_requested.is_set() and len(self.statuses) < self.limit and time.monotonic() < deadline:
            began = time.monotonic()
            try:
                response = session.get(self.url, timeout=5)
                self.statuses.append(response.status_code)
                if match := SEEN.fullmatch(response.text):
                    self.counts.append(int(match.group(1)))
            except requests.RequestException:
                self.statuses.append("error")
            self.spans.append((began, time.monotonic()))

    def under_way(self, start: float, end: float) -> list[int]:
        """The indexes of the requests that were under way at some moment between two `time.monotonic()`s."""
        return [index for index, (began, ended) in enumerate(self.spans) if began < end and ended > start]

    def stop(self):
        self._stop_requested.set()
        self.join(timeout=30)


@dataclass
class SlowClients:
    """Connections that each sent half a request's headers and then nothing (a slowloris attack)."""

    sockets: list

    def answers_within(self, seconds: float) -> list[bytes | None]:
        """What the server sent each connection before it closed it, within `seconds` from now in all (b"" for a
        close without a word); None for a connection still open, and silent, at the end."""
        deadline = time.monotonic() + seconds
        answers = []
        for connection in self.sockets:
            connection.settimeout(max(0.01, deadline - time.monotonic()))
            received = b""
            try:
                while chunk := connection.recv(4096):
                    received += chunk
                answers.append(received)
            except TimeoutError:
                answers.append(received or None)
            except OSError:  # reset by the server: closed, without a word
                answers.append(received)
        return answers


@contextmanager
def slow_clients(url: str, count: int) -> Iterator[SlowClients]:
    """`count` connections to the URL's server, each sending a request line and one header but never the blank line
    that ends the headers; every one is closed on the way out, so the load ends with the test."""
    parts = urlsplit(url)
    sockets = []
    try:
        for _ in range(count):
            connection = socket.create_connection((parts.hostname, parts.port), timeout=5)
            sockets.append(connection)
            connection.sendall(f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.hostname}\r\n".encode())
        yield SlowClients(sockets)
    finally:
        for connection in sockets:
            connection.close()
