"""Aggregate tables (聚合表): balances over a ledger as defined (definition) and
kept in step with every change (service)."""
