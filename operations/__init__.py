"""Work done on a schedule or on demand by operators: alerts and notices, backups and
restore, the national database exchange, reports."""
