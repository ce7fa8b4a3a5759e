"""Print bench/results.json as one table: `python -m bench.summary`."""

from __future__ import annotations

import json

from bench.results import RESULTS


def rows(prefix: str, value: object):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from rows(f"{prefix}.{key}" if prefix else key, inner)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for i, inner in enumerate(value):
            yield from rows(f"{prefix}[{i}]", inner)
    else:
        yield prefix, value


def main() -> None:
    if not RESULTS.exists():
        raise SystemExit(f"{RESULTS} does not exist: run `make bench` first")
    data = json.loads(RESULTS.read_text())
    width = 0
    table = list(rows("", data))
    width = max(len(name) for name, _ in table)
    for name, value in table:
        print(f"{name:{width}}  {value}")
    print(f"\n(written to {RESULTS})")


if __name__ == "__main__":
    main()
