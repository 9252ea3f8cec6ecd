"""Database access: one async engine, a single serialised writer on SQLite, migrations at start.

SQLite with many concurrent writers gave multi-second tails and "database is locked" errors
(DESIGN.md performance notes), so on SQLite every write transaction in this process goes through
one asyncio lock, with WAL and a busy timeout for other processes. PostgreSQL needs neither.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import Executable

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def sync_url(url: str) -> str:
    """The same database for sync drivers (Alembic): aiosqlite -> sqlite; psycopg works both ways."""
    return url.replace("sqlite+aiosqlite", "sqlite", 1)


def run_migrations(url: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # JSON columns (routing traces) are decoded on every job read: orjson is ~4x faster.
        kwargs: dict[str, Any] = {
            "json_serializer": lambda obj: orjson.dumps(obj).decode(),
            "json_deserializer": orjson.loads,
        }
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._fast_reader: sqlite3.Connection | None = None
        self._prepared: dict[int, tuple[str, list[str], list[tuple[str, Any]]]] = {}
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    @property
    def sqlite_file(self) -> str | None:
        if not self.is_sqlite:
            return None
        return self.url.split("///", 1)[1]

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction; committed when the block exits without an exception."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    def fetch_one_fast(self, stmt: Executable, params: Mapping[str, Any]) -> Mapping[Any, Any] | None:
        """Hot-path read on SQLite: a prepared Core statement on a plain sqlite3 connection.

        The aiosqlite thread hop costs more than the query itself (DESIGN.md: ~980 vs ~5,300
        req/s), so the reads on every authenticated request use this on SQLite. ``stmt`` must be
        a module-level statement with ``bindparam``s (compiled once) selecting by an indexed key.
        WAL lets these reads run beside the writer.
        """
        prepared = self._prepared.get(id(stmt))
        if prepared is None:
            prepared = self._prepare(stmt)
            self._prepared[id(stmt)] = prepared
        sql, names, columns = prepared
        if self._fast_reader is None:
            conn = sqlite3.connect(self.sqlite_file or "", timeout=30, check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
            self._fast_reader = conn
        cur = self._fast_reader.execute(sql, [params[n] for n in names])
        row = cur.fetchone()
        cur.close()
        if row is None:
            return None
        return {
            name: (proc(v) if proc is not None and v is not None else v)
            for (name, proc), v in zip(columns, row, strict=True)
        }

    def _prepare(self, stmt: Executable) -> tuple[str, list[str], list[tuple[str, Any]]]:
        dialect = self.engine.dialect
        compiled = stmt.compile(dialect=dialect)  # type: ignore[attr-defined]
        names = list(compiled.positiontup or ())
        columns = [
            (col.key, col.type._cached_result_processor(dialect, None))
            for col in stmt.selected_columns  # type: ignore[attr-defined]
        ]
        return str(compiled), names, columns

    async def fetch_one_hot(self, stmt: Executable, params: Mapping[str, Any]) -> Mapping[Any, Any] | None:
        if self.is_sqlite:
            return self.fetch_one_fast(stmt, params)
        async with self.read() as conn:
            row = (await conn.execute(stmt, dict(params))).first()
            return row._mapping if row is not None else None

    async def fetch_one(self, stmt: Executable) -> Mapping[Any, Any] | None:
        async with self.read() as conn:
            row: Row[Any] | None = (await conn.execute(stmt)).first()
            return row._mapping if row is not None else None

    async def fetch_all(self, stmt: Executable) -> Sequence[Mapping[Any, Any]]:
        async with self.read() as conn:
            return [r._mapping for r in (await conn.execute(stmt)).all()]

    async def dispose(self) -> None:
        if self._fast_reader is not None:
            self._fast_reader.close()
            self._fast_reader = None
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
