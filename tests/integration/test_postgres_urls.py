"""Every libpq parameter of a PostgreSQL store URL reaches the connections, or the URL is
refused: against the local server, which has no SSL."""

from __future__ import annotations

from typing import Any

import pytest

from smsledger.infra.stores.selection import StoreError, open_store
from smsledger.infra.stores.urls import masked
from tests.integration.conftest import admin_connection

pytestmark = pytest.mark.postgres


def server_has_no_ssl() -> None:
    admin = admin_connection()
    try:
        ssl = admin.execute("SHOW ssl").fetchone()
    finally:
        admin.close()
    assert ssl == ("off",), "this test needs a server without SSL"


def test_sslmode_require_is_refused_by_a_server_without_ssl(pg_url: str) -> None:
    server_has_no_ssl()
    with pytest.raises(StoreError) as raised:
        open_store(f"{pg_url}&sslmode=require")
    message = str(raised.value)
    assert message.startswith("cannot connect to PostgreSQL")
    assert "SSL" in message
    assert "\n" not in message


def test_sslmode_disable_connects_to_a_server_without_ssl(pg_url: str) -> None:
    opened = open_store(f"{pg_url}&sslmode=disable")
    try:
        assert opened.database.query("SELECT ssl FROM pg_stat_ssl WHERE pid = "
                                     "pg_backend_pid()") == [(False,)]
    finally:
        opened.close()


def test_application_name_and_options_reach_every_connection_of_the_store(
    pg_url: str,
) -> None:
    url = f"{pg_url}&application_name=smsledger_probe&options=-c%20statement_timeout%3D4321"
    opened = open_store(url)
    try:
        shown = opened.database.query(
            "SELECT current_setting('application_name'), current_setting('statement_timeout'),"
            " current_schema()")
        schema = pg_url.rsplit("schema=", 1)[1]
        assert shown == [("smsledger_probe", "4321ms", schema)]
        with opened.database.transaction() as cursor:  # a pooled connection all the same
            cursor.execute("SELECT current_setting('application_name')")
            assert cursor.fetchall() == [("smsledger_probe",)]
    finally:
        opened.close()


def test_connect_timeout_reaches_the_connection(pg_url: str) -> None:
    opened = open_store(f"{pg_url}&connect_timeout=7")
    try:
        connection: Any
        with opened.app.factory.datastore.get_connection() as connection:  # type: ignore[attr-defined]
            assert connection.info.get_parameters().get("connect_timeout") == "7"
    finally:
        opened.close()


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("sslmod=require", "'sslmod'"),
        ("connect_timeout=soon", "connect_timeout"),
        ("sslmode=require&sslmode=disable", "'sslmode' appears twice"),
    ],
)
def test_a_parameter_libpq_does_not_take_is_refused(pg_url: str, query: str, named: str) -> None:
    with pytest.raises(StoreError, match=named):
        open_store(f"{pg_url}&{query}")


def test_masking_hides_passwords_in_the_user_part_and_the_query() -> None:
    url = "postgresql://alice:p%40ss:w@db:5432/ledger?schema=s&password=two&sslpassword=3"
    shown = masked(url)
    assert shown == "postgresql://alice:***@db:5432/ledger?schema=s&password=***&sslpassword=***"
