"""A request's body as the rows of one load batch: one event object, a JSON array, or NDJSON.

The body decides, not its Content-Type:

- One JSON value that is an object is one event; an array holds one event per element, and an
  element that is not an object lands in raw.load_rejects (not_an_object). Any other JSON value
  (a string, a number, null) is refused.
- Anything else is NDJSON, read line by line exactly as `countonce ingest` reads a file
  (ingest.jsonlines): each bad line lands in raw.load_rejects with its reason. A body in which
  not one line is JSON is refused.
- An empty body is refused; so is one that is not UTF-8 (JSON is UTF-8, and the signature is
  computed over its text), by the caller, which decodes it for the signature check.

A refused body raises BadBody (400, nothing stored). Each event lands as its original text,
an array's element as its own slice of the body, never re-serialised, so numbers keep their
exact value. source_line is the event's position in the request (its line for NDJSON),
source_offset the byte offset where it starts. An array written the way serialisers write
it takes a fast path (_compact_array); any other, the careful one (_document, _elements).

The load batch's id is drawn only when the batch commits (several requests share one COPY
transaction), so rows are built here without their first two COPY columns and `numbered`
puts them in front.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import orjson

from ingest.chunk import Chunk, Limits, Position, copy_escape, row_prefix
from ingest.event_minute import utc_minute
from ingest.jsonlines import fill_jsonl, record_row
from ingest.validate import EMPTY_LINE, INVALID_JSON, INVALID_UTF8

# Reasons that say a line is not JSON at all (as opposed to JSON that is not a storable event).
_NOT_JSON = frozenset({INVALID_JSON, INVALID_UTF8, EMPTY_LINE})
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_BYTE_WHITESPACE = re.compile(rb"[ \t\n\r]*")
_SPACE = frozenset(b" \t\n\r")
_COMMA = ord(",")
_ROW = b"%d\t%d\t%b\t%b\n"  # source_line, source_offset, record, event_minute
# Decoded values only locate events and name a refused value's type; never stored.
_DECODER = json.JSONDecoder(parse_float=Decimal)
_REASON = 4  # position of the reason in a reject tuple (see Chunk.reject)
_JSON_TYPES = {str: "string", bool: "boolean", type(None): "null"}


class BadBody(ValueError):
    """The body is refused as a whole: nothing of it is stored."""


class TooManyEvents(ValueError):
    """The body holds more events than one request may carry."""


class _Unnumbered(Chunk):
    """A chunk whose rows leave out load_batch_id and source_file (see ParsedBody.numbered)."""

    @property
    def prefix(self) -> bytes:
        return b""


@dataclass
class ParsedBody:
    source_name: str
    rows: bytes = b""  # COPY rows, each without its first two columns
    rejects: list[tuple] = field(default_factory=list)
    lines: int = 0
    landed: int = 0
    size: int = 0

    @property
    def rejected(self) -> int:
        return len(self.rejects)

    def reasons(self) -> Counter[str]:
        return Counter(reject[_REASON] for reject in self.rejects)

    def numbered(self, batch_id: int) -> tuple[bytes, list[tuple]]:
        """The COPY rows and reject rows of this body as load batch `batch_id`."""
        prefix = row_prefix(batch_id, self.source_name)
        # COPY text rows hold no raw newline (copy_escape), so each newline ends a row.
        rows = prefix + self.rows[:-1].replace(b"\n", b"\n" + prefix) + b"\n" if self.rows else b""
        return rows, [(batch_id, *reject[1:]) for reject in self.rejects]


def parse_body(
    body: bytes, text: str, source_name: str, limits: Limits, max_events: int
) -> ParsedBody:
    """The rows of `body` (`text` is the same, decoded); raises BadBody or TooManyEvents."""
    start = _WHITESPACE.match(text, 1 if text.startswith("\ufeff") else 0).end()
    if start == len(text):
        raise BadBody("the body is empty")
    if text[start] == "[":
        parsed = _compact_array(body, source_name, limits, max_events)
        if parsed is not None:
            return parsed
    spans = _document(text, start, max_events)
    if spans is not None:
        return _elements(body, text, spans, source_name, limits)
    return _ndjson(body, source_name, limits, max_events)


def _compact_array(
    body: bytes, source_name: str, limits: Limits, max_events: int
) -> ParsedBody | None:
    """The rows of an array whose every element is, byte for byte, what orjson writes for it
    (compact JSON, as senders' serialisers write it, whose numbers print back the same); None
    for any other body, which takes the careful path (_document).

    orjson parses the whole body at once and each element's text is found by comparing bytes,
    so each landed record is still the original text of its element: an element whose
    numbers orjson would print differently (65.10, 1e-400, big integers) never matches."""
    try:
        values = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if len(values) > max_events:
        raise TooManyEvents(f"more than {max_events} events in one request")
    skip = _BYTE_WHITESPACE.match
    dumps = orjson.dumps
    pos = skip(body, body.index(b"[") + 1).end()
    chunk = _Unnumbered(0, source_name, lambda data: None, limits)
    rows = []
    for number, value in enumerate(values, start=1):
        record = dumps(value)
        if not body.startswith(record, pos):
            return None
        start = pos
        pos += len(record)  # then "," or "]", whitespace around either (the array is whole)
        if body[pos] in _SPACE:
            pos = skip(body, pos).end()
        if body[pos] == _COMMA:
            pos += 1
            if body[pos] in _SPACE:
                pos = skip(body, pos).end()
        if type(value) is dict and len(record) <= limits.max_line_bytes:
            if b"\\" not in record:
                rows.append(_ROW % (number, start, record, utc_minute(value.get("event_time"))))
                continue
            if b"\\u0000" not in record:
                # orjson escapes every control character: a backslash is all COPY must escape.
                minute = utc_minute(value.get("event_time"))
                rows.append(_ROW % (number, start, copy_escape(record), minute))
                continue
        row = record_row(chunk, b"", record, number, start)  # rejected, with its reason
        if row is not None:
            rows.append(row)
    return ParsedBody(
        source_name,
        rows=b"".join(rows),
        rejects=chunk.rejects,
        lines=len(values),
        landed=len(rows),
        size=len(body),
    )


def _document(text: str, start: int, max_events: int) -> list[tuple[int, int]] | None:
    """Where each event of a one-document body is, as (start, end) in `text`; None when the
    body is not one JSON document (read it as NDJSON)."""
    opening = text[start]
    if opening == "[":
        return _array_spans(text, start, max_events)
    if opening == "{":
        end = _decoded_end(text, start)
        if end is not None and _WHITESPACE.match(text, end).end() == len(text):
            return [(start, end)]
        return None
    try:
        value = json.loads(text, parse_float=Decimal)
    except (ValueError, RecursionError):
        return None
    kind = _JSON_TYPES.get(type(value), "number")
    raise BadBody(f"a JSON {kind}: expected an event object, an array of them, or NDJSON")


def _decoded_end(text: str, start: int) -> int | None:
    try:
        return _DECODER.raw_decode(text, start)[1]
    except (ValueError, RecursionError):  # json.JSONDecodeError is a ValueError
        return None


def _array_spans(text: str, start: int, max_events: int) -> list[tuple[int, int]] | None:
    skip = _WHITESPACE.match
    spans: list[tuple[int, int]] = []
    pos = skip(text, start + 1).end()
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            end = _decoded_end(text, pos)
            if end is None:
                return None
            spans.append((pos, end))
            if len(spans) > max_events:
                raise TooManyEvents(f"more than {max_events} events in one request")
            pos = skip(text, end).end()
            if text.startswith(",", pos):
                pos = skip(text, pos + 1).end()
            elif text.startswith("]", pos):
                pos += 1
                break
            else:
                return None
    return spans if skip(text, pos).end() == len(text) else None


def _elements(
    body: bytes, text: str, spans: list[tuple[int, int]], source_name: str, limits: Limits
) -> ParsedBody:
    parsed = ParsedBody(source_name, size=len(body))
    chunk = _Unnumbered(0, source_name, lambda data: None, limits)
    ascii_only = len(body) == len(text)
    rows = []
    char = offset = 0
    for number, (start, end) in enumerate(spans, start=1):
        if ascii_only:
            offset, record = start, body[start:end]
        else:
            offset += len(text[char:start].encode())
            char = start
            record = text[start:end].encode()
        row = record_row(chunk, b"", record, number, offset)
        if row is not None:
            rows.append(row)
    parsed.rows = b"".join(rows)
    parsed.rejects = chunk.rejects
    parsed.lines = len(spans)
    parsed.landed = len(rows)
    return parsed


def _ndjson(body: bytes, source_name: str, limits: Limits, max_events: int) -> ParsedBody:
    lines = body.count(b"\n") + (not body.endswith(b"\n"))
    if lines > max_events:
        raise TooManyEvents(f"more than {max_events} events in one request")
    parts: list[bytes] = []
    chunk = _Unnumbered(0, source_name, parts.append, limits)
    stream = io.BufferedReader(io.BytesIO(body), buffer_size=max(io.DEFAULT_BUFFER_SIZE, len(body)))
    pos = Position()
    while not fill_jsonl(stream, chunk, pos, hold_partial=False):
        pass
    if chunk.landed == 0 and all(reject[_REASON] in _NOT_JSON for reject in chunk.rejects):
        raise BadBody("the body is not JSON: neither one JSON document nor lines of JSON")
    return ParsedBody(
        source_name,
        rows=b"".join(parts),
        rejects=chunk.rejects,
        lines=chunk.lines,
        landed=chunk.landed,
        size=len(body),
    )
