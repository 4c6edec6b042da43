"""DATABASE_URL parsing: the worker process of the browser tests finds the test database by it."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.settings import BASE_DIR, database_from_url


def test_it_reads_an_absolute_sqlite_path():
    db = database_from_url("sqlite:////tmp/turnaround/test.sqlite3")
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == Path("/tmp/turnaround/test.sqlite3")


def test_it_reads_a_relative_sqlite_path_from_the_project_folder():
    assert (
        database_from_url("sqlite:///var/other.sqlite3")["NAME"] == BASE_DIR / "var/other.sqlite3"
    )


def test_it_unquotes_the_sqlite_path():
    assert database_from_url("sqlite:////tmp/a%20b.sqlite3")["NAME"] == Path("/tmp/a b.sqlite3")


def test_it_refuses_a_sqlite_url_without_a_file():
    with pytest.raises(RuntimeError, match="file name"):
        database_from_url("sqlite://")


def test_it_reads_a_postgres_url():
    db = database_from_url("postgresql://u:p%40ss@db.example.com:5433/films")
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "films",
        "u",
        "p@ss",
        "db.example.com",
        "5433",
    )
