import os

import pytest

from countonce import db


def test_the_embedded_server_is_sized_once_for_this_machine(pg_server):
    if not pg_server.embedded:
        pytest.skip("sizes only the embedded server; an external one keeps its own settings")
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    with db.connect(pg_server.params) as conn:
        shared_buffers_mb = conn.execute(
            "select setting::bigint * current_setting('block_size')::bigint / 1048576"
            " from pg_settings where name = 'shared_buffers'"
        ).fetchone()[0]
        (source,) = conn.execute(
            "select sourcefile from pg_file_settings where name = 'shared_buffers' and applied"
        ).fetchone()
    assert shared_buffers_mb == db.embedded_shared_buffers_mb(physical)
    assert source.endswith("postgresql.auto.conf")  # set once; a later ALTER SYSTEM wins
