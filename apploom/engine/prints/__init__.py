"""Printed documents (打印单据): the templates an entity prints as defined (definition),
and the data a printout shows, gathered with the reader's rights (service)."""
