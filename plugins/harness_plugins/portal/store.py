"""Portal storage: SQLite (default, stdlib) or PostgreSQL (psycopg 3), one portable schema.

Database URLs: ``sqlite:///relative/or/absolute/path.db`` (or a bare file path)
and ``postgresql://user:password@host:port/dbname`` (``postgres://`` too; a
``host=/socket/dir`` query parameter reaches a unix socket).

Migrations are numbered SQL files (``migrations/NNNN_name.sql``) that both
engines run unchanged. ``schema_migrations`` records each applied file with
its sha256; a file edited after it was applied, or a database newer than
this code, stops the portal with a clear error rather than guessing.
Migrations run in one transaction (on PostgreSQL under an advisory lock, on
SQLite under ``BEGIN IMMEDIATE``), so two portals starting together are safe.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import urlparse

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATION_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
PG_LOCK_ID = 0x6C67636870  # "lgchp"


class StoreError(Exception):
    """The database cannot be opened or migrated."""


class IdempotencyConflict(Exception):
    def __init__(self, key: str, stored: str, received: str) -> None:
        super().__init__(f"idempotency key {key!r} was used for scorecard sha256 {stored}; this request carries "
                         f"sha256 {received}")
        self.key, self.stored, self.received = key, stored, received


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def _clean(text: Any) -> str:
    """PostgreSQL TEXT cannot hold NUL: replace it (both engines store the same thing)."""
    return str(text if text is not None else "").replace("\x00", "\ufffd")


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every shipped migration, in order."""
    found = []
    for path in sorted(MIGRATIONS_DIR.iterdir()):
        match = MIGRATION_RE.match(path.name)
        if match:
            found.append((int(match.group(1)), path.name, path.read_text(encoding="utf-8")))
    versions = [v for v, _, _ in found]
    if not versions:
        raise StoreError(f"no migration file in {MIGRATIONS_DIR}: the package was installed without its *.sql data")
    if versions != list(range(1, len(versions) + 1)):
        raise StoreError(f"migrations must be numbered 0001, 0002, … without gaps; found {versions}")
    return found


def split_sql(script: str) -> list[str]:
    """Statements of a migration file (``--`` comments removed; no ';' inside literals)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


class Tx:
    """One transaction on one connection; SQL uses ``?`` placeholders on both engines."""

    def __init__(self, conn: Any, engine: str) -> None:
        self.conn, self.engine = conn, engine

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Any:
        if self.engine == "postgresql":
            sql = sql.replace("?", "%s")
        cur = self.conn.cursor()
        cur.execute(sql, tuple(params))
        return cur

    def one(self, sql: str, params: Iterable[Any] = ()) -> tuple | None:
        return self.execute(sql, params).fetchone()

    def all(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        return self.execute(sql, params).fetchall()


@dataclass
class ScorecardRow:
    digest: str
    subject_name: str
    vendor: str
    product: str
    version: str
    schema_version: str
    keyids: list[str]
    overall_score: float | None
    coverage: float | None
    finished_at: str | None
    received_at: str

    COLUMNS = ("digest, subject_name, vendor, product, version, schema_version, keyids, overall_score, coverage, "
               "finished_at, received_at")

    @classmethod
    def from_row(cls, row: tuple) -> "ScorecardRow":
        values = list(row)
        values[6] = json.loads(values[6])
        return cls(*values)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.COLUMNS.replace(" ", "").split(",")}


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        parsed = urlparse(url)
        if parsed.scheme in ("postgresql", "postgres"):
            self.engine = "postgresql"
            try:
                import psycopg  # noqa: F401
            except ImportError:
                raise StoreError("a postgresql:// database needs psycopg 3 (pip install 'psycopg[binary]')") from None
        elif parsed.scheme in ("sqlite", ""):
            self.engine = "sqlite"
            path = url[len("sqlite://"):] if parsed.scheme == "sqlite" else url
            if parsed.scheme == "sqlite":
                path = path[1:] if path.startswith("/") else path  # sqlite:///rel, sqlite:////abs
            if not path or path == ":memory:":
                raise StoreError("an in-memory SQLite database cannot be shared; give a file path")
            self.path = Path(path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
        else:
            raise StoreError(f"unsupported database URL scheme {parsed.scheme!r} (sqlite:/// or postgresql://)")

    def describe(self) -> str:
        if self.engine == "sqlite":
            return f"sqlite {self.path}"
        parsed = urlparse(self.url)
        return f"postgresql {parsed.hostname or 'socket'}:{parsed.port or 5432}{parsed.path}"

    # -- connections ---------------------------------------------------------

    def _connect(self) -> Any:
        if self.engine == "sqlite":
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=60, check_same_thread=False)
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA busy_timeout = 60000")
            return conn
        import psycopg

        try:
            return psycopg.connect(self.url, autocommit=False, connect_timeout=15)
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to {self.describe()}: {str(exc).strip()}") from None

    @contextlib.contextmanager
    def transaction(self, write: bool = False) -> Iterator[Tx]:
        conn = self._connect()
        try:
            if self.engine == "sqlite":
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            tx = Tx(conn, self.engine)
            try:
                yield tx
            except BaseException:
                conn.rollback() if self.engine == "postgresql" else conn.execute("ROLLBACK")
                raise
            conn.commit() if self.engine == "postgresql" else conn.execute("COMMIT")
        finally:
            conn.close()

    # -- migrations ----------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply the pending migrations; returns the names applied now."""
        shipped = migrations()
        applied_now = []
        if self.engine == "sqlite":
            conn = self._connect()
            try:
                conn.execute("PRAGMA journal_mode = WAL")
            finally:
                conn.close()
        with self.transaction(write=True) as tx:
            if self.engine == "postgresql":
                tx.execute(f"SELECT pg_advisory_xact_lock({PG_LOCK_ID})")
            tx.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                       "name TEXT NOT NULL, sha256 TEXT NOT NULL, applied_at TEXT NOT NULL)")
            done = {row[0]: (row[1], row[2]) for row in tx.all("SELECT version, name, sha256 FROM schema_migrations")}
            newest = max(done, default=0)
            if newest > len(shipped):
                raise StoreError(f"database schema is at migration {newest} but this harness knows only "
                                 f"{len(shipped)}: upgrade the harness")
            for version, name, sql in shipped:
                sha = hashlib.sha256(sql.encode("utf-8")).hexdigest()
                if version in done:
                    if done[version][1] != sha:
                        raise StoreError(f"migration {name} was changed after it was applied to this database "
                                         f"(recorded sha256 {done[version][1][:12]}…, file {sha[:12]}…)")
                    continue
                for statement in split_sql(sql):
                    tx.execute(statement)
                tx.execute("INSERT INTO schema_migrations (version, name, sha256, applied_at) VALUES (?, ?, ?, ?)",
                           (version, name, sha, now()))
                applied_now.append(name)
        return applied_now

    def schema_version(self) -> int:
        with self.transaction() as tx:
            row = tx.one("SELECT MAX(version) FROM schema_migrations")
        return int(row[0] or 0)

    # -- auditor keys --------------------------------------------------------

    def register_key(self, keyid: str, name: str, public_key_pem: str) -> bool:
        with self.transaction(write=True) as tx:
            cur = tx.execute("INSERT INTO auditor_keys (keyid, name, public_key, registered_at) VALUES (?, ?, ?, ?) "
                             "ON CONFLICT (keyid) DO NOTHING", (keyid, _clean(name), public_key_pem, now()))
            return cur.rowcount == 1

    def keys(self) -> list[tuple[str, str, str]]:
        """(keyid, name, public key PEM) of every registered auditor key."""
        with self.transaction() as tx:
            return [tuple(r) for r in tx.all("SELECT keyid, name, public_key FROM auditor_keys ORDER BY keyid")]

    # -- scorecards ----------------------------------------------------------

    def idempotency_digest(self, key: str) -> str | None:
        with self.transaction() as tx:
            row = tx.one("SELECT digest FROM idempotency_keys WHERE idem_key = ?", (key,))
        return row[0] if row else None

    def add_scorecard(self, *, digest: str, subject_name: str, card: dict[str, Any], keyids: list[str],
                      envelope: str, idempotency_key: str | None) -> tuple[bool, ScorecardRow]:
        """Store a verified scorecard once; returns (created, row).

        Raises :class:`IdempotencyConflict` when ``idempotency_key`` was first
        used with another digest (nothing is stored then).
        """
        subject = card.get("subject", {})
        overall = card.get("scores", {}).get("overall", {})
        with self.transaction(write=True) as tx:
            if idempotency_key:
                row = tx.one("SELECT digest FROM idempotency_keys WHERE idem_key = ?", (idempotency_key,))
                if row and row[0] != digest:
                    raise IdempotencyConflict(idempotency_key, row[0], digest)
            cur = tx.execute(
                "INSERT INTO scorecards (digest, subject_name, vendor, product, version, schema_version, keyids, "
                "overall_score, coverage, finished_at, received_at, envelope) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING",
                (digest, _clean(subject_name), _clean(subject.get("vendor")), _clean(subject.get("product")),
                 _clean(subject.get("version")), _clean(card.get("schema_version")), json.dumps(keyids),
                 overall.get("score"), overall.get("coverage"), _clean(card.get("run", {}).get("finished_at")),
                 now(), envelope))
            created = cur.rowcount == 1
            if idempotency_key:
                tx.execute("INSERT INTO idempotency_keys (idem_key, digest, created_at) VALUES (?, ?, ?) "
                           "ON CONFLICT (idem_key) DO NOTHING", (idempotency_key, digest, now()))
                row = tx.one("SELECT digest FROM idempotency_keys WHERE idem_key = ?", (idempotency_key,))
                if row[0] != digest:  # lost a race with another request using the same key
                    raise IdempotencyConflict(idempotency_key, row[0], digest)
            stored = tx.one(f"SELECT {ScorecardRow.COLUMNS} FROM scorecards WHERE digest = ?", (digest,))
        return created, ScorecardRow.from_row(stored)

    def scorecard_row(self, digest: str) -> ScorecardRow | None:
        with self.transaction() as tx:
            row = tx.one(f"SELECT {ScorecardRow.COLUMNS} FROM scorecards WHERE digest = ?", (digest,))
        return ScorecardRow.from_row(row) if row else None

    def scorecards(self, vendor: str | None = None, product: str | None = None) -> list[ScorecardRow]:
        sql = f"SELECT {ScorecardRow.COLUMNS} FROM scorecards"
        params: list[Any] = []
        if product is not None:
            sql += " WHERE product = ?" + (" AND vendor = ?" if vendor is not None else "")
            params = [product] + ([vendor] if vendor is not None else [])
        sql += " ORDER BY vendor, product, received_at, digest"
        with self.transaction() as tx:
            return [ScorecardRow.from_row(r) for r in tx.all(sql, params)]

    def envelope(self, digest: str) -> str | None:
        with self.transaction() as tx:
            row = tx.one("SELECT envelope FROM scorecards WHERE digest = ?", (digest,))
        return row[0] if row else None

    def envelopes(self) -> Iterator[tuple[ScorecardRow, str]]:
        """Every stored scorecard with its envelope, oldest first (one at a time: they can be large)."""
        for row in sorted(self.scorecards(), key=lambda r: (r.received_at, r.digest)):
            text = self.envelope(row.digest)
            if text is not None:
                yield row, text

    # -- peer ratings ----------------------------------------------------------

    def add_ratings(self, *, digest: str, filename: str, ratings: list[dict[str, Any]],
                    problems: list[tuple[int, str]]) -> bool:
        """Store one ratings export once (by content digest); returns whether it was new."""
        with self.transaction(write=True) as tx:
            cur = tx.execute("INSERT INTO ratings_imports (digest, filename, imported_at, rows_imported, problems) "
                             "VALUES (?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING",
                             (digest, _clean(filename), now(), len(ratings),
                              json.dumps([[line, _clean(msg)] for line, msg in problems])))
            if cur.rowcount != 1:
                return False
            rows = [(digest, r["line"], _clean(r["product"]), _clean(r.get("version")), _clean(r["facet"]),
                     float(r["score10"]), _clean(r.get("date")), _clean(r.get("reviewer"))) for r in ratings]
            sql = ("INSERT INTO ratings (import_digest, line, product, version, facet, score10, rated_on, reviewer) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            if self.engine == "postgresql":
                tx.conn.cursor().executemany(sql.replace("?", "%s"), rows)
            else:
                tx.conn.executemany(sql, rows)
        return True

    def ratings_imports(self) -> list[dict[str, Any]]:
        with self.transaction() as tx:
            rows = tx.all("SELECT digest, filename, imported_at, rows_imported, problems FROM ratings_imports "
                          "ORDER BY imported_at, digest")
        return [{"digest": r[0], "filename": r[1], "imported_at": r[2], "rows_imported": r[3],
                 "problems": json.loads(r[4])} for r in rows]

    def current_ratings(self) -> list[dict[str, Any]]:
        """For each product, the ratings of the latest export that mentions it.

        A ratings export is a snapshot of the portal's ratings: a newer export
        supersedes an older one product by product, and older imports stay
        recorded (``ratings_imports``).
        """
        with self.transaction() as tx:
            rows = tx.all(
                "SELECT r.product, r.version, r.facet, r.score10, r.rated_on, r.reviewer, r.line, r.import_digest "
                "FROM ratings r JOIN ratings_imports i ON i.digest = r.import_digest "
                "WHERE i.imported_at = (SELECT MAX(i2.imported_at) FROM ratings r2 "
                "  JOIN ratings_imports i2 ON i2.digest = r2.import_digest WHERE r2.product = r.product) "
                "ORDER BY r.product, r.import_digest, r.line")
        return [{"product": r[0], "version": r[1], "facet": r[2], "score10": r[3], "date": r[4], "reviewer": r[5],
                 "line": r[6], "import": r[7]} for r in rows]

    def stats(self) -> dict[str, int]:
        with self.transaction() as tx:
            return {"scorecards": tx.one("SELECT COUNT(*) FROM scorecards")[0],
                    "products": tx.one("SELECT COUNT(*) FROM (SELECT DISTINCT vendor, product FROM scorecards) p")[0],
                    "ratings": tx.one("SELECT COUNT(*) FROM ratings")[0],
                    "keys": tx.one("SELECT COUNT(*) FROM auditor_keys")[0]}
