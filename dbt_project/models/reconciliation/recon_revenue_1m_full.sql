{#- The fact against the independent recomputation from landing, over all history (see
    macros/reconciliation/revenue_reconciliation.sql): what `countonce check --full` confirms.
    A view: it costs nothing until it is read, then a pass over all of landing. -#}
{{ revenue_reconciliation(full=true) }}
