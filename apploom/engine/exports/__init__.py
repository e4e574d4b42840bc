"""Data going out in open formats: spreadsheets written with formula-like text made inert
(spreadsheets)."""
