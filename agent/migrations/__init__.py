"""Versioned SQL migrations, applied in file-name order by `agent.stores.postgres.migrate`."""
