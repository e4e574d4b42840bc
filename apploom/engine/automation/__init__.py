"""Automation: rules as defined and checked (definition), the actions they take, each
with its check (actions), running them inside the change's transaction (service), the
outbox that delivers their messages, and in-app notifications."""
