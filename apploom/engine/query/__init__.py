"""The one query language: filters, search, sort and paging compiled to
SQLAlchemy with every name checked against the definition."""
