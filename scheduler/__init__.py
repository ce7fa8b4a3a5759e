"""Batch runs: ingest, dbt build, checks; one at a time, with a run ledger."""
