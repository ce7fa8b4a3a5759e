from countonce.db import embedded_shared_buffers_mb

GIB = 2**30


def test_the_embedded_server_gets_a_quarter_of_memory_within_postgres_default_and_8_gib():
    assert embedded_shared_buffers_mb(24 * GIB) == 6144
    assert embedded_shared_buffers_mb(256 * 2**20) == 128  # PostgreSQL's default, the floor
    assert embedded_shared_buffers_mb(256 * GIB) == 8192
