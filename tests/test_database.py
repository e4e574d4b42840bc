"""The database drivers are extras: a missing one says which to install."""

from __future__ import annotations

import sys

import pytest

from apploom.engine.storage.database import Database


def test_a_postgresql_url_without_the_driver_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'apploom\[postgres\]'"):
        Database("postgresql+psycopg://apploom@127.0.0.1:5432/apploom")
