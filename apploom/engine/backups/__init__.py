"""Backups: one zip file holding the database as a logical dump, the instance's files and
the live definitions (backup), and putting it back into an empty instance (restore).
The dump is typed by the definitions, so a backup made on SQLite restores into
PostgreSQL and back (tables, values), and every member is checked by its checksum
(archive)."""
