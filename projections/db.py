"""The database interface projections need; `infra.database` adapts SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol


class Database(Protocol):
    """SQL is written with `?` placeholders; adapters translate them."""

    dialect: str

    def transaction(self) -> AbstractContextManager[Any]: ...

    def execute(self, cursor: Any, sql: str, params: Sequence[Any] = ()) -> None: ...

    def executemany(self, cursor: Any, sql: str, seq: Sequence[Sequence[Any]]) -> None: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def present(self, table: str, column: str, values: Sequence[str]) -> set[str]: ...

    def rows_with(
        self, table: str, columns: str, column: str, values: Sequence[str]
    ) -> list[tuple[Any, ...]]: ...
