"""The record service, the one write path (service), and what it uses: input
coercion, defaults, formulas, naming series, history, idempotency keys, titles,
attachments and the related-records panels."""
