"""The SSE decoder every transport shares (synaplex/lm/sse.py): the event-stream format, the
event-size bound, and agreement with httpx2's EventSource parser, which it replaced."""

from __future__ import annotations

import pytest
from httpx2._sse import _SSEParser
from hypothesis import given, settings
from hypothesis import strategies as st

from synaplex.lm.sse import EventTooLargeError, ServerSentEvent, SSEDecoder


def decode(*chunks: bytes, max_event_size: int | None = None) -> list[ServerSentEvent]:
    decoder = SSEDecoder(max_event_size=max_event_size)
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.flush()


def httpx2_decode(*chunks: bytes, max_event_size: int | None = None) -> list[tuple]:
    """httpx2's parser on the same chunks (decoded as httpx2 decodes a response: incremental UTF-8)."""
    import codecs

    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    parser = _SSEParser(max_event_size)
    events = [event for chunk in chunks for event in parser.decode(text.decode(chunk))]
    events += list(parser.decode(text.decode(b"", final=True))) + list(parser.flush())
    return [(e.event, e.data, e.id, e.retry) for e in events]


def fields(events: list[ServerSentEvent]) -> list[tuple]:
    return [(e.event, e.data, e.id, e.retry) for e in events]


def test_every_line_ending_and_a_multi_line_data_field():
    stream = b"event: delta\r\ndata: one\rdata: two\ndata:three\r\n\r\nid: 7\nretry: 1500\ndata: {}\n\n"
    assert fields(decode(stream)) == [("delta", "one\ntwo\nthree", "", None), ("message", "{}", "7", 1500)]


def test_a_crlf_split_between_two_chunks_is_one_line_end():
    assert fields(decode(b"data: a\r", b"\n", b"\r", b"\ndata: b\n\n")) == [("message", "a", "", None),
                                                                            ("message", "b", "", None)]


def test_comments_and_unknown_fields_dispatch_nothing():
    assert decode(b": keep-alive\n\n:\n\nfoo: bar\n\n") == []


def test_an_event_the_stream_does_not_end_is_dropped():
    assert decode(b"data: done\n\ndata: cut off") == [ServerSentEvent(data="done")]


def test_an_id_holding_nul_and_a_retry_that_is_not_a_number_are_ignored():
    assert fields(decode(b"id: 1\n\nid: a\x00b\nretry: soon\ndata: x\n\n")) == [
        ("message", "", "1", None), ("message", "x", "1", None)]


def test_invalid_utf8_becomes_the_replacement_character():
    assert decode(b"data: caf\xc3\n\n")[0].data == "caf\ufffd"


def test_a_multibyte_character_split_between_chunks_is_whole():
    assert decode(b"data: caf\xc3", b"\xa9\n\n")[0].data == "café"


def test_an_event_over_the_limit_raises_before_the_next_line():
    decoder = SSEDecoder(max_event_size=32)
    assert decoder.feed(b"data: " + b"x" * 20 + b"\n") == []
    with pytest.raises(EventTooLargeError, match="exceeded 32 bytes"):
        decoder.feed(b"data: " + b"y" * 20 + b"\n")


def test_a_line_still_arriving_counts_toward_the_limit():
    decoder = SSEDecoder(max_event_size=1024)
    decoder.feed(b"data: " + b"x" * 1000)
    with pytest.raises(EventTooLargeError):
        decoder.feed(b"x" * 100)  # no end of line yet: the decoder does not wait for one


def test_the_limit_is_per_event_and_comments_do_not_count():
    decoder = SSEDecoder(max_event_size=64)
    for _ in range(100):
        assert decoder.feed(b": " + b"k" * 200 + b"\ndata: " + b"z" * 50 + b"\n\n")[0].data == "z" * 50


# --- agreement with httpx2's parser ---------------------------------------------------------

LINE_ENDS = st.sampled_from(["\n", "\r\n", "\r"])
VALUE = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=12)
LINE = st.one_of(
    st.tuples(st.sampled_from(["data", "event", "id", "retry", "other", ""]), st.sampled_from([":", ": ", ":  "]),
              VALUE).map("".join),
    st.sampled_from(["data", ":comment", "", "retry: 12", "id: 3", "data:\x00"]),
)


@st.composite
def streams(draw) -> tuple[bytes, list[int]]:
    lines = draw(st.lists(st.tuples(LINE, LINE_ENDS), max_size=25))
    text = "".join(line + end for line, end in lines) + draw(st.sampled_from(["", "\r", "data: tail"]))
    data = text.encode("utf-8")
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    return data, cuts


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


@settings(max_examples=400, deadline=None)
@given(streams())
def test_it_reads_any_stream_as_httpx2_does(stream):
    data, cuts = stream
    chunks = split(data, cuts)
    assert fields(decode(*chunks)) == httpx2_decode(*chunks)


@settings(max_examples=300, deadline=None)
@given(streams(), st.integers(1, 60))
def test_it_refuses_exactly_the_streams_httpx2_refuses(stream, limit):
    from httpx2 import SSEError

    data, cuts = stream
    chunks = split(data, cuts)
    try:
        expected: object = httpx2_decode(*chunks, max_event_size=limit)
    except SSEError:
        expected = "too large"
    try:
        got: object = fields(decode(*chunks, max_event_size=limit))
    except EventTooLargeError:
        got = "too large"
    assert got == expected
