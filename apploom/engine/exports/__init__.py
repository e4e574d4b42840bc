"""Data going out in open formats: spreadsheets written with formula-like text made inert
(spreadsheets), and every app's data in a folder readable without AppLoom (folder)."""
