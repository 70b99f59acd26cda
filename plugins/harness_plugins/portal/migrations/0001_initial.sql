-- Portal storage, version 1. Portable SQL: SQLite and PostgreSQL both run this file as is.
-- Every key is produced by the application (digests, keyids), so no autoincrement is needed.

CREATE TABLE auditor_keys (
    keyid          TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    public_key     TEXT NOT NULL,
    registered_at  TEXT NOT NULL
);

-- One row per distinct signed scorecard (every version of every product).
CREATE TABLE scorecards (
    digest          TEXT PRIMARY KEY,
    subject_name    TEXT NOT NULL,
    vendor          TEXT NOT NULL,
    product         TEXT NOT NULL,
    version         TEXT NOT NULL,
    schema_version  TEXT NOT NULL,
    keyids          TEXT NOT NULL,
    overall_score   DOUBLE PRECISION,
    coverage        DOUBLE PRECISION,
    finished_at     TEXT,
    received_at     TEXT NOT NULL,
    envelope        TEXT NOT NULL
);

-- Idempotency-Key header -> the digest it was first used with.
CREATE TABLE idempotency_keys (
    idem_key    TEXT PRIMARY KEY,
    digest      TEXT NOT NULL REFERENCES scorecards (digest),
    created_at  TEXT NOT NULL
);

-- One row per distinct ratings export received.
CREATE TABLE ratings_imports (
    digest         TEXT PRIMARY KEY,
    filename       TEXT NOT NULL,
    imported_at    TEXT NOT NULL,
    rows_imported  INTEGER NOT NULL,
    problems       TEXT NOT NULL
);

CREATE TABLE ratings (
    import_digest  TEXT NOT NULL REFERENCES ratings_imports (digest),
    line           INTEGER NOT NULL,
    product        TEXT NOT NULL,
    version        TEXT NOT NULL,
    facet          TEXT NOT NULL,
    score10        DOUBLE PRECISION NOT NULL,
    rated_on       TEXT NOT NULL,
    reviewer       TEXT NOT NULL,
    PRIMARY KEY (import_digest, line)
);
