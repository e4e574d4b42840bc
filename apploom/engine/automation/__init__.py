"""Automation: rules as defined and checked (definition), running them inside
the change's transaction (service), the outbox that delivers their messages, and
in-app notifications."""
