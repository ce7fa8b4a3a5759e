{#- The fact against the independent recomputation from landing, over the minutes of the
    current run (see macros/reconciliation/revenue_reconciliation.sql). A view: what it
    shows is the tables as they are now. -#}
{{ revenue_reconciliation(full=false) }}
