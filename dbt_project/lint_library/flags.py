"""dbt's `flags` for lint."""

FULL_REFRESH = False
