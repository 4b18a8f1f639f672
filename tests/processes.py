"""Helpers for tests that start the app's own processes (daphne, workers)."""

from urllib.parse import quote

from django.db import connection


def database_url_for_children() -> str:
    """A DATABASE_URL naming the test database, for processes a test starts.

    A child process reads its settings afresh, so it must be told the test
    database's real name (Django renamed it for the tests).
    """
    database = connection.settings_dict
    if database["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{database['NAME']}"
    user = quote(database.get("USER") or "", safe="")
    password = quote(database.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = database.get("HOST") or "127.0.0.1"
    port = f":{database['PORT']}" if database.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{database['NAME']}"
