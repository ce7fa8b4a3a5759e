"""The UTC minute of a record's event_time, computed while loading.

raw.order_events.event_minute is indexed so that revenue per minute can be recomputed from
landing without scanning history. Computing it here costs the loader about a microsecond a
row; as a generated column PostgreSQL spent over ten (its regular expressions are slow), which
halved COPY throughput. raw.utc_minute() in ingest/schema.sql states the same rule in SQL for
rows written by other means; tests hold the two to the same answers.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

NULL = b"\\N"

# RFC 3339 with a mandatory offset. PostgreSQL accepts offsets up to 15:59 only. The groups
# are all the minute depends on: the local minute, a leap second, the offset (None for Z).
_RFC3339 = re.compile(
    r"(\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])[Tt](?:[01]\d|2[0-3]):[0-5]\d)"
    r":(?:[0-5]\d|(60))(?:\.\d{1,9})?(?:[Zz]|([+-](?:0\d|1[0-5]):[0-5]\d))"
)
_cache: dict[tuple[str, str | None, str | None], bytes] = {}
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


def _compute(local_minute: str, leap: str | None, offset: str | None) -> bytes:
    year, month, day = int(local_minute[:4]), int(local_minute[5:7]), int(local_minute[8:10])
    hour, minute = int(local_minute[11:13]), int(local_minute[14:16])
    try:
        local = datetime(year, month, day, hour, minute)
    except ValueError:  # a day the month does not have, or year 0
        return NULL
    shift = timedelta(minutes=1 if leap else 0)
    if offset is not None:
        delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
        shift += -delta if offset[0] == "+" else delta
    try:
        utc = local + shift
    except OverflowError:
        return NULL
    return utc.strftime("%Y-%m-%d %H:%M:00+00").encode()
