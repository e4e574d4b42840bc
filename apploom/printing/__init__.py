"""Printed documents as PDF: the print templates an entity defines, rendered in a
sandboxed Jinja2 environment with barcodes and QR codes (codes), laid out as pages
by WeasyPrint (render). No Flask: the web layer, the API and bench/ all call it."""
