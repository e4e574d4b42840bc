"""Expressions (formulas, conditions, guards) and admin scripts: checked and
compiled (compiled), run in the sandbox (sandbox)."""
