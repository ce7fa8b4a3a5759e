"""Money never passes through a binary float: amounts a float would round, loader to fact."""

from __future__ import annotations

import ast
import json
from decimal import Decimal
from pathlib import Path

import psycopg

from tests.conftest import REPO

MINUTE = "2026-11-20T10:{:02d}:{:02d}Z"
PYTHON_PACKAGES = ("countonce", "ingest", "expectations", "scheduler")
AMOUNT_WORDS = ("amount", "price", "revenue", "money", "net", "gross", "refund", "total", "sum")
# Every float() in the application, each with why it never touches a stored amount.
REVIEWED_FLOAT_CALLS: dict[tuple[str, str], str] = {}


def _line(n: int, event_type: str, literal: str, currency: str, minute: int) -> bytes:
    """One event whose amount is written as the exact JSON literal given (string or number)."""
    head = {
        "event_id": f"m-{n}",
        "order_id": f"o-m-{n}",
        "event_type": event_type,
        "event_time": MINUTE.format(minute, n % 60),
        "currency": currency,
    }
    return (json.dumps(head)[:-1] + f', "amount": {literal}}}\n').encode()


def _stream() -> tuple[bytes, dict[tuple[int, str], tuple[Decimal, Decimal]]]:
    """Lines and the exact (gross, refunded) per (minute, currency) they must give."""
    lines: list[bytes] = []
    amounts: dict[tuple[int, str], list[Decimal]] = {}

    def add(event_type: str, literal: str, currency: str, minute: int) -> None:
        lines.append(_line(len(lines), event_type, literal, currency, minute))
        row = amounts.setdefault((minute, currency), [Decimal(0), Decimal(0)])
        row[event_type == "refunded"] += Decimal(literal.strip('"'))

    for _ in range(10):  # 0.10 + 0.20, the classic, as numbers and as strings
        add("paid", "0.10", "USD", 0)
        add("paid", '"0.20"', "USD", 0)
    add("refunded", "0.10", "USD", 0)
    for _ in range(3):  # 13 significant digits, a sum with 14
        add("paid", '"12345678901.23"', "EUR", 1)
    add("paid", "0.01", "EUR", 1)
    for _ in range(50):  # the largest amount, summed past 16 significant digits
        add("paid", "999999999999.99", "GBP", 2)
    add("paid", '"0.07"', "GBP", 2)
    return b"".join(lines), {key: (gross, refunded) for key, (gross, refunded) in amounts.items()}


def test_the_stream_is_one_a_float_gets_wrong() -> None:
    """The data below is float-hostile: summing it in binary floating point drifts."""
    data, expected = _stream()
    floats: dict[tuple[int, str], float] = {}
    for raw in data.splitlines():
        record = json.loads(raw)  # a float here on purpose, to show the drift
        if record["event_type"] == "paid":
            key = (int(record["event_time"][14:16]), record["currency"])
            floats[key] = floats.get(key, 0.0) + float(record["amount"])
    drifted = [key for key, (gross, _) in expected.items() if Decimal(floats[key]) != gross]
    assert len(drifted) == len(expected)


def test_amounts_reach_the_fact_exactly(env, conn, cli, tmp_path: Path) -> None:
    data, expected = _stream()
    path = tmp_path / "money.jsonl"
    path.write_bytes(data)
    ingest = cli("ingest", str(path))
    assert ingest.returncode == 0, ingest.stderr[-2000:]
    build = cli("build")
    assert build.returncode == 0, build.stdout[-3000:]
    fact = {
        (minute.minute, currency): (gross, refunded, net)
        for minute, currency, gross, refunded, net in conn.execute(
            "select minute, currency, gross_paid_amount, refunded_amount, net_amount"
            " from analytics.fact_revenue_1m"
        )
    }
    assert fact == {
        key: (gross, refunded, gross - refunded) for key, (gross, refunded) in expected.items()
    }
    assert fact[(0, "USD")] == (Decimal("3.00"), Decimal("0.10"), Decimal("2.90"))
    assert fact[(2, "GBP")][0] == Decimal("49999999999999.57")
    assert all(isinstance(v, Decimal) for row in fact.values() for v in row)
    _assert_no_float_columns(conn)


def _assert_no_float_columns(conn: psycopg.Connection) -> None:
    floats = conn.execute(
        "select table_schema, table_name, column_name from information_schema.columns"
        " where data_type in ('real', 'double precision')"
        " and table_schema not in ('pg_catalog', 'information_schema')"
    ).fetchall()
    assert floats == [], f"float columns in the warehouse: {floats}"


def _float_calls(path: Path) -> list[tuple[str, str, int]]:
    """(function, argument source, line) of every float(...) call in a module."""
    source = path.read_text()
    tree = ast.parse(source)
    found = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = function
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = child.name
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Name)
                and child.func.id == "float"
            ):
                args = ", ".join(ast.get_source_segment(source, a) or "" for a in child.args)
                found.append((name, args, child.lineno))
            visit(child, name)

    visit(tree, "<module>")
    return found


def test_no_float_is_applied_to_money_in_the_application() -> None:
    unreviewed, amount_like = [], []
    for package in PYTHON_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            relative = path.relative_to(REPO).as_posix()
            for function, args, line in _float_calls(path):
                where = f"{relative}:{line} float({args}) in {function}"
                if any(word in args.lower() for word in AMOUNT_WORDS):
                    amount_like.append(where)
                if (relative, function) not in REVIEWED_FLOAT_CALLS:
                    unreviewed.append(where)
    assert amount_like == []
    assert unreviewed == [], "review each new float() and add it to REVIEWED_FLOAT_CALLS"


def test_json_parsers_in_the_loader_keep_numbers_as_text() -> None:
    """A JSON decoder without parse_float would turn an amount into a float."""
    offenders = []
    for path in sorted((REPO / "ingest").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            if name in {"json.loads", "json.load", "json.JSONDecoder", "JSONDecoder"}:
                if not any(k.arg == "parse_float" for k in node.keywords):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {name}")
    assert offenders == []


def test_no_float_type_in_the_sql() -> None:
    words = ("double precision", "float4", "float8", "::real", " real,", "::float", "float(")
    offenders = []
    for folder in ("dbt_project/models", "dbt_project/macros", "ingest", "expectations"):
        for path in sorted((REPO / folder).rglob("*.sql")):
            text = path.read_text().lower()
            offenders += [f"{path.relative_to(REPO)}: {w}" for w in words if w in text]
    assert offenders == []
