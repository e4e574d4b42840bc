"""Where records live: the database (SQLite or PostgreSQL), exact column types,
the platform's own sys_* tables, one table per entity, and the schema changes
that follow a definition's change."""
