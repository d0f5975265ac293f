"""Server-sent events, decoded from the bytes of a stream as they arrive.

One decoder for every HTTP transport, so a stream reads the same whichever carries it. It
follows the event-stream format (lines end with ``\\n``, ``\\r\\n`` or ``\\r``; a blank line
ends an event; ``data`` lines join with ``\\n``; lines starting with ``:`` are comments), as
httpx2's ``EventSource`` reads it, which it replaces (tests/test_transport_sse.py checks the two
agree): the text is UTF-8 (an invalid byte becomes U+FFFD), a field's first space after the
colon is dropped, ``id`` holding NUL is ignored, ``retry`` is kept when it is an integer, and
an event not ended by a blank line when the stream ends is not dispatched.

An event may hold at most ``max_event_size`` bytes (its field lines, comments excepted, and
the line still arriving): beyond it :class:`EventTooLargeError`, before reading on.

>>> decoder = SSEDecoder(max_event_size=1024)
>>> decoder.feed(b"event: delta\\ndata: {\\"x\\": 1}\\n\\n: keep-alive\\n")
[ServerSentEvent(event='delta', data='{"x": 1}', id='', retry=None)]
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One event: its type (``"message"`` by default), data, last event id and retry (ms)."""

    event: str = "message"
    data: str = ""
    id: str = ""
    retry: int | None = None


def _unfinished(data: bytes) -> int:
    """How many bytes at the end of ``data`` begin a UTF-8 character still to be completed
    (not counted yet, as a text decoder holds them back)."""
    for back in range(1, min(3, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # the lead byte (or ASCII)
            length = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte & 0xF8 == 0xF0 else 1
            return back if length > back else 0
    return 0


class EventTooLargeError(ValueError):
    """An event (or a line still arriving) passed ``max_event_size`` bytes."""


class SSEDecoder:
    """Feed it the stream's bytes chunk by chunk; it returns the events each chunk completes."""

    __slots__ = ("max_event_size", "_tail", "_cr", "_event", "_data", "_id", "_retry", "_pending", "_size")

    def __init__(self, max_event_size: int | None = None):
        self.max_event_size = max_event_size
        self._tail = b""      # the line still arriving (no end of line yet)
        self._cr = False      # the last chunk ended with "\r", held back: it may be half of "\r\n"
        self._event = ""
        self._data: list[str] = []
        self._id = ""
        self._retry: int | None = None
        self._pending = False  # a field was set since the last dispatch
        self._size = 0         # bytes of the event's field lines so far

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events completed by ``chunk``.

        Raises:
            EventTooLargeError: the event being read passed ``max_event_size`` bytes.
        """
        if not chunk:
            return []
        if self._cr:  # the line before it ends here, with the "\r" it held back (or "\r\n")
            self._cr = False
            chunk = b"\r" + chunk
        if chunk[-1:] == b"\r":  # maybe the first half of "\r\n": wait for the next chunk
            self._cr = True
            chunk = chunk[:-1]
        if self._tail:
            chunk = self._tail + chunk
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = chunk.split(b"\n")
        self._tail = lines.pop()
        events = [event for line in lines if (event := self._line(line)) is not None] if lines else []
        if self.max_event_size is not None and self._size + len(self._tail) > self.max_event_size \
                and self._size + len(self._tail) - _unfinished(self._tail) > self.max_event_size:
            raise EventTooLargeError(f"a server-sent event exceeded {self.max_event_size} bytes")
        return events

    def flush(self) -> list[ServerSentEvent]:
        """The events the end of the stream completes: its last line, when no end of line
        followed it; a final ``\\r`` also ends the event (as httpx2's decoder reads it)."""
        tail, self._tail = self._tail, b""
        lines = [tail] if tail else []
        if self._cr:
            self._cr = False
            lines = [tail, b""]
        return [event for line in lines if (event := self._line(line)) is not None]

    def _line(self, line: bytes) -> ServerSentEvent | None:
        if not line:
            self._size = 0
            if not self._pending:
                return None
            event = ServerSentEvent(self._event or "message", "\n".join(self._data), self._id, self._retry)
            self._event, self._data, self._retry, self._pending = "", [], None, False
            return event
        if line[:1] == b":":
            return None
        self._size += len(line)
        if self.max_event_size is not None and self._size > self.max_event_size:
            raise EventTooLargeError(f"a server-sent event exceeded {self.max_event_size} bytes")
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value.decode("utf-8", "replace"))
            self._pending = True
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
            self._pending = True
        elif name == b"id":
            if b"\0" not in value:
                self._id = value.decode("utf-8", "replace")
                self._pending = True
        elif name == b"retry":
            try:
                self._retry = int(value.decode("utf-8", "replace"))
            except ValueError:
                return None
            self._pending = True
        return None


__all__ = ["EventTooLargeError", "SSEDecoder", "ServerSentEvent"]
