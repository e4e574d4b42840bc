"""Workflows: states and transitions as defined and linted (definition), and
taking them (service)."""
