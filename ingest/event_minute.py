"""The UTC minute of a record's event_time, computed while loading.

raw.order_events.event_minute is indexed so that revenue per minute can be recomputed from
landing without scanning history. Computing it here costs the loader about a microsecond a
row; as a generated column PostgreSQL spent over ten (its regular expressions are slow), which
halved COPY throughput. This is the contract's rule for a valid event time: the staging model
rejects a row whose event_minute is null (event_time_invalid), so every writer of landing rows
fills event_minute with this function.

The minute is the text's own, truncated, never rounded: a leap second (23:59:60) counts in
23:59, the minute it is stamped in; digits are ASCII only (Python's \\d and int() take any
Unicode digit, which PostgreSQL's timestamp parser refuses).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

NULL = b"\\N"

# RFC 3339 with a mandatory offset. PostgreSQL accepts offsets up to 15:59 only. The groups
# are all the minute depends on: the local minute and the offset (None for Z).
_RFC3339 = re.compile(
    r"(\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])[Tt](?:[01]\d|2[0-3]):[0-5]\d)"
    r":(?:[0-5]\d|60)(?:\.\d{1,9})?(?:[Zz]|([+-](?:0\d|1[0-5]):[0-5]\d))",
    re.ASCII,
)
_cache: dict[tuple[str, str | None], bytes] = {}
_CACHE_LIMIT = 100_000


def utc_minute(value: object) -> bytes:
    """COPY-text UTC minute of an RFC 3339 timestamp with offset, or COPY's NULL."""
    if type(value) is not str:
        return NULL
    match = _RFC3339.fullmatch(value)
    if match is None:
        return NULL
    key = match.groups()
    found = _cache.get(key)
    if found is None:
        found = _compute(*key)
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[key] = found
    return found


def _compute(local_minute: str, offset: str | None) -> bytes:
    year, month, day = int(local_minute[:4]), int(local_minute[5:7]), int(local_minute[8:10])
    hour, minute = int(local_minute[11:13]), int(local_minute[14:16])
    try:
        local = datetime(year, month, day, hour, minute)
    except ValueError:  # a day the month does not have, or year 0
        return NULL
    shift = timedelta()
    if offset is not None:
        delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
        shift += -delta if offset[0] == "+" else delta
    try:
        utc = local + shift
    except OverflowError:
        return NULL
    return utc.strftime("%Y-%m-%d %H:%M:00+00").encode()
