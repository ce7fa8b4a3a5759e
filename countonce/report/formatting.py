"""How the report writes values: money exactly, counts with separators, times in UTC.

The template escapes what these return.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

CENT = Decimal("0.01")
MAX_CELL_CHARS = 200


def money(value: Decimal | None) -> str:
    """Exact decimal text: two places when that loses nothing, every digit otherwise."""
    if value is None:
        return "—"
    if value == value.quantize(CENT):
        return f"{value.quantize(CENT):,}"
    return f"{value.normalize():,f}"


def count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def utc(moment: datetime, *, seconds: bool = False) -> str:
    return moment.astimezone(UTC).strftime(f"%Y-%m-%d %H:%M{':%S' if seconds else ''} UTC")


def cell(value: object) -> str:
    """One database value as table text, cut to MAX_CELL_CHARS."""
    if value is None:
        text = "—"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, int):
        text = f"{value:,}"
    elif isinstance(value, Decimal):
        text = money(value)
    elif isinstance(value, datetime):
        text = utc(value, seconds=True)
    elif isinstance(value, dict | list):
        text = json.dumps(value, default=str, sort_keys=True)
    else:
        text = str(value)
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "…"
    return text


def cell_class(value: object) -> str:
    """The CSS class of a table cell holding `value`: numbers align right, JSON wraps."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return "num"
    return "json" if isinstance(value, dict | list) else ""
