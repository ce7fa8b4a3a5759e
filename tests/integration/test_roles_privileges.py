"""`countonce db roles`: log in as each role and prove what it may and may not do.

The embedded server trusts its local socket, so a role logs in with user=<role>.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import errors
from psycopg.conninfo import make_conninfo

from countonce.roles import ANALYST, LOADER, TRANSFORMER
from tests.conftest import env_for, own_database, run_cli

EVENT = (
    '{"event_id":"e%d","order_id":"o%d","event_type":"paid","amount":"%d.25",'
    '"currency":"EUR","event_time":"2026-11-20T10:0%d:00Z"}\n'
)


@dataclass
class Deployment:
    params: dict[str, str]  # the administrator's
    env: dict[str, str]
    home: Path

    def as_role(self, role: str) -> psycopg.Connection:
        return psycopg.connect(**{**self.params, "user": role}, autocommit=True)

    def env_as(self, role: str) -> dict[str, str]:
        return {
            **self.env,
            "COUNTONCE_DATABASE_URL": make_conninfo(**{**self.params, "user": role}),
        }


def _grants(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "select grantee, table_schema, table_name, privilege_type"
        " from information_schema.role_table_grants where grantee like 'countonce%%'"
        " union all select grantee, '', object_name, privilege_type"
        " from information_schema.usage_privileges where grantee like 'countonce%%'"
        " order by 1, 2, 3, 4"
    ).fetchall()


@pytest.fixture(scope="module")
def deployment(pg_server, tmp_path_factory) -> Deployment:
    """Events loaded and built by the administrator, then the roles, then the transformer's
    own build and checks (dq, created after the roles, is covered by default privileges)."""
    home = tmp_path_factory.mktemp("roles")
    with own_database(pg_server, "t_roles") as params:
        env = env_for(params, home / ".countonce")
        events = home / "events.jsonl"
        events.write_text("".join(EVENT % (n, n, n, n) for n in range(1, 6)))
        run_cli(env, "ingest", str(events), check=True)
        run_cli(env, "build", check=True)
        run_cli(env, "db", "roles", check=True)
        deployed = Deployment(params, env, home)
        transformer = deployed.env_as(TRANSFORMER)
        run_cli(transformer, "build", check=True)
        run_cli(transformer, "check", check=True)
        yield deployed


def _refused(conn: psycopg.Connection, statement: str) -> None:
    with pytest.raises(errors.InsufficientPrivilege):
        conn.execute(statement)


def test_roles_command_is_idempotent(deployment: Deployment) -> None:
    with psycopg.connect(**deployment.params, autocommit=True) as conn:
        before = _grants(conn)
        again = run_cli(deployment.env, "db", "roles", check=True)
        assert "created: none" in again.stdout
        assert _grants(conn) == before
        logins = conn.execute(
            "select rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb from pg_roles"
            " where rolname like 'countonce%' order by 1"
        ).fetchall()
    assert logins == [(role, True, False, False, False) for role in (ANALYST, LOADER, TRANSFORMER)]


def test_passwords_come_from_the_environment_and_are_not_printed(deployment: Deployment) -> None:
    secret = f"pw-{uuid.uuid4().hex}"
    env = {**deployment.env, "COUNTONCE_ANALYST_PASSWORD": secret}
    with psycopg.connect(**deployment.params, autocommit=True) as conn:
        try:
            proc = run_cli(env, "db", "roles", check=True)
            assert secret not in proc.stdout + proc.stderr
            stored = dict(
                conn.execute(
                    "select rolname, rolpassword from pg_authid where rolname = any(%s)",
                    ([ANALYST, LOADER],),
                ).fetchall()
            )
            assert stored[ANALYST].startswith("SCRAM-SHA-256$")
            assert secret not in stored[ANALYST]
            # Without its variable, a run leaves an existing password alone.
            run_cli(deployment.env, "db", "roles", check=True)
            kept = conn.execute(
                "select rolpassword from pg_authid where rolname = %s", (ANALYST,)
            ).fetchone()[0]
            assert kept == stored[ANALYST]
        finally:
            conn.execute(f"alter role {ANALYST} password null")


def test_loader_may_append_landing_rows_and_keep_its_offsets(deployment: Deployment) -> None:
    with deployment.as_role(LOADER) as conn, conn.transaction(force_rollback=True):
        batch = conn.execute("select nextval('raw.load_batch_id_seq')").fetchone()[0]
        with conn.cursor() as cur:
            with cur.copy(
                "copy raw.order_events (load_batch_id, source_file, source_line, source_offset,"
                " record) from stdin"
            ) as copy:
                copy.write_row((batch, "f.jsonl", 1, 0, '{"event_id":"x"}'))
            cur.execute(
                "insert into raw.load_rejects (load_batch_id, source_file, source_line,"
                " source_offset, reason, detail, raw_text, raw_bytes)"
                " values (%s, 'f.jsonl', 2, 17, 'invalid_json', '', '{', 1)",
                (batch,),
            )
            cur.execute(
                "insert into raw.load_batches (load_batch_id, source_file, first_line,"
                " last_line, first_offset, end_offset, lines_read, rows_landed, rows_rejected,"
                " started_at) values (%s, 'f.jsonl', 1, 2, 0, 19, 2, 1, 1, now())",
                (batch,),
            )
            for offset in (17, 19):  # the loader's upsert, twice
                cur.execute(
                    "insert into raw.source_offsets (source_file, byte_offset, line_number)"
                    " values ('f.jsonl', %s, 2) on conflict (source_file) do update"
                    " set byte_offset = excluded.byte_offset",
                    (offset,),
                )
            assert cur.execute(
                "select byte_offset from raw.source_offsets where source_file = 'f.jsonl'"
            ).fetchone() == (19,)


LOADER_REFUSED = [
    "select * from raw.order_events",
    "select * from raw.load_rejects",
    "update raw.order_events set record = '{}'",
    "delete from raw.order_events",
    "truncate raw.load_batches",
    "delete from raw.source_offsets",
    "select * from analytics.fact_revenue_1m",
    "select * from intermediate.int_order_events_deduplicated",
    "select * from dq.check_results",
    "create table raw.loader_table (x int)",
    "create schema loader_schema",
    "drop table raw.order_events",
    "alter table raw.order_events add column x int",
    "create index on raw.order_events (landing_seq)",
]


@pytest.mark.parametrize("statement", LOADER_REFUSED)
def test_loader_is_refused(deployment: Deployment, statement: str) -> None:
    with deployment.as_role(LOADER) as conn:
        _refused(conn, statement)


def test_loader_role_runs_countonce_ingest(deployment: Deployment) -> None:
    events = deployment.home / "more.jsonl"
    events.write_text("".join(EVENT % (n, n, n, n % 10) for n in range(6, 9)))
    proc = run_cli(deployment.env_as(LOADER), "ingest", str(events))
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_transformer_reads_raw_and_owns_the_models(deployment: Deployment) -> None:
    with deployment.as_role(TRANSFORMER) as conn:
        # >= : the loader's test may have landed more rows in this shared deployment
        assert conn.execute("select count(*) from raw.order_events").fetchone()[0] >= 5
        assert conn.execute("select count(*) from raw.load_batches").fetchone()[0] >= 1
        assert conn.execute("select count(*) from analytics.fact_revenue_1m").fetchone()[0] == 5
        owners = conn.execute(
            "select distinct pg_get_userbyid(c.relowner) from pg_class as c"
            " join pg_namespace as n on n.oid = c.relnamespace"
            " where n.nspname = any(%s) and c.relkind in ('r', 'v')",
            (["staging", "intermediate", "analytics", "reconciliation", "dq", "ops"],),
        ).fetchall()
        assert owners == [(TRANSFORMER,)]


TRANSFORMER_REFUSED = [
    "insert into raw.order_events (load_batch_id, source_file, source_line, source_offset,"
    " record) values (1, 'x', 1, 0, '{}')",
    "update raw.order_events set record = '{}'",
    "delete from raw.load_batches",
    "truncate raw.order_events",
    "update raw.source_offsets set byte_offset = 0",
    "drop table raw.order_events",
    "alter table raw.load_rejects add column x int",
]


@pytest.mark.parametrize("statement", TRANSFORMER_REFUSED)
def test_transformer_is_refused(deployment: Deployment, statement: str) -> None:
    with deployment.as_role(TRANSFORMER) as conn:
        _refused(conn, statement)


@pytest.mark.parametrize(
    "relation",
    [
        "analytics.fact_revenue_1m",
        "dq.check_results",
        "dq.check_runs",
        "dq.latest_check_status",
        "ops.pipeline_runs",
    ],
)
def test_analyst_reads_the_marts_and_the_quality_tables(deployment: Deployment, relation):
    with deployment.as_role(ANALYST) as conn:
        conn.execute(f"select * from {relation} limit 1")


def test_analyst_reads_tables_the_transformer_creates_later(deployment: Deployment) -> None:
    with deployment.as_role(TRANSFORMER) as owner:
        owner.execute("create table analytics.roles_later as select 1 as x")
        try:
            with deployment.as_role(ANALYST) as conn:
                assert conn.execute("select x from analytics.roles_later").fetchone() == (1,)
        finally:
            owner.execute("drop table analytics.roles_later")


ANALYST_REFUSED = [
    "select * from raw.order_events",
    "select * from raw.source_offsets",
    "select * from staging.stg_shopflow__order_events",
    "select * from intermediate.int_order_events_deduplicated",
    "select * from intermediate.int_order_events_rejected",
    "select * from reconciliation.recon_revenue_1m",
    "insert into analytics.fact_revenue_1m (minute, currency) values (now(), 'USD')",
    "update analytics.fact_revenue_1m set net_amount = 0",
    "delete from dq.check_results",
    "update ops.pipeline_runs set status = 'failed'",
    "create table analytics.analyst_table (x int)",
    "drop table analytics.fact_revenue_1m",
    "create schema analyst_schema",
]


@pytest.mark.parametrize("statement", ANALYST_REFUSED)
def test_analyst_is_refused(deployment: Deployment, statement: str) -> None:
    with deployment.as_role(ANALYST) as conn:
        _refused(conn, statement)
