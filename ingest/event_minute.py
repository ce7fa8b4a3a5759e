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

# RFC 3339 with a mandatory offset. PostgreSQL accepts offsets up to 15:59 only.
_RFC3339 = re.compile(
    r"(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):([0-5]\d)"
    r":([0-5]\d|60)(?:\.\d{1,9})?(?:[Zz]|([+-])(0\d|1[0-5]):([0-5]\d))"
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
    key = (value[:16], match.group(6), match.group(7), match.group(8), match.group(9))
    found = _cache.get(key)
    if found is None:
        found = _compute(match)
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[key] = found
    return found


def _compute(match: re.Match[str]) -> bytes:
    year, month, day, hour, minute, second, sign, off_h, off_m = match.groups()
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute))
    except ValueError:  # a day the month does not have, or year 0
        return NULL
    shift = timedelta(minutes=1 if second == "60" else 0)
    if sign is not None:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        shift += -offset if sign == "+" else offset
    try:
        utc = local + shift
    except OverflowError:
        return NULL
    return utc.strftime("%Y-%m-%d %H:%M:00+00").encode()
