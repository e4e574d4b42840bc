"""Who may do what: users, passwords and tokens, per-entity permissions, and the
signatures that authenticate webhooks."""
