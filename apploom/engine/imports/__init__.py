"""Imports: spreadsheets read (spreadsheets), rows turned into records
(service), and imports run as resumable jobs (jobs)."""
