"""Stand-ins for dbt's `adapter` and `dbt` namespaces, so sqlfluff's jinja templater can
render the models offline. Only the shape of the SQL matters to the linter."""
