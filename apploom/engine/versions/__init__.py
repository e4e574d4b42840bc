"""Changing definitions: applying them (install), the applied versions
(applied), a business's layer over the bundled apps (layers), what a change asks of
the data (data_moves), and the studio's edits of the text (text_edits)."""
