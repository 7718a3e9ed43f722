package sqlite

// The schema lives here and only here. Each entry of migrations moves the
// database from version i to i+1 (the version is SQLite's user_version); a
// migration is applied in the same transaction that bumps the version, so a
// crash leaves the database at the old or the new version, never between.
// Append new migrations; never edit one that has shipped.
//
// Portability notes for the PostgreSQL twin:
//   - key and prefix comparisons rely on byte-wise order. SQLite's BINARY
//     collation compares TEXT with memcmp, which for UTF-8 is code point
//     order; PostgreSQL needs COLLATE "C" on bucket names and object keys.
//   - times are INTEGER unix nanoseconds in UTC (BIGINT there); zero times
//     are 0.
//   - objects.id is an INTEGER PRIMARY KEY (rowid); use BIGINT GENERATED
//     ALWAYS AS IDENTITY there.
//   - the partial unique indexes on segments exist in both engines.
var migrations = []string{
	// 1: the initial schema.
	`
CREATE TABLE buckets (
	name    TEXT PRIMARY KEY,
	created INTEGER NOT NULL
);

CREATE TABLE objects (
	id            INTEGER PRIMARY KEY,
	bucket        TEXT NOT NULL REFERENCES buckets(name),
	key           TEXT NOT NULL,
	version_id    TEXT NOT NULL,
	size          INTEGER NOT NULL,
	etag          TEXT NOT NULL,
	last_modified INTEGER NOT NULL,
	meta          BLOB,
	tags          BLOB,
	checksum      TEXT NOT NULL DEFAULT '',
	UNIQUE (bucket, key)
);

CREATE TABLE uploads (
	id        TEXT PRIMARY KEY,
	bucket    TEXT NOT NULL REFERENCES buckets(name),
	key       TEXT NOT NULL,
	initiated INTEGER NOT NULL,
	meta      BLOB,
	tags      BLOB
);
CREATE INDEX uploads_by_key ON uploads (bucket, key, initiated, id);

-- segments holds every wrapped DEK: the segments of current objects
-- (object_id set) and the parts of multipart uploads (upload_id set).
-- Deleting a row destroys the only copy of its wrapped DEK.
CREATE TABLE segments (
	blob_id     TEXT PRIMARY KEY,
	object_id   INTEGER REFERENCES objects(id) ON DELETE CASCADE,
	upload_id   TEXT REFERENCES uploads(id) ON DELETE CASCADE,
	number      INTEGER NOT NULL,
	size        INTEGER NOT NULL,
	etag        TEXT NOT NULL,
	wrapped_dek BLOB NOT NULL,
	kek_version INTEGER NOT NULL,
	binding     TEXT NOT NULL,
	created     INTEGER NOT NULL,
	CHECK ((object_id IS NULL) <> (upload_id IS NULL))
);
CREATE UNIQUE INDEX segments_by_object ON segments (object_id, number) WHERE object_id IS NOT NULL;
CREATE UNIQUE INDEX segments_by_upload ON segments (upload_id, number) WHERE upload_id IS NOT NULL;
CREATE INDEX segments_by_kek ON segments (kek_version);

CREATE TABLE access_keys (
	id            TEXT PRIMARY KEY,
	sealed_secret BLOB NOT NULL,
	owner         TEXT NOT NULL,
	created       INTEGER NOT NULL,
	expires       INTEGER NOT NULL
);

CREATE TABLE keks (
	version INTEGER PRIMARY KEY,
	wrapped BLOB NOT NULL,
	created INTEGER NOT NULL
);
`,
	// 2: local users and admin-plane sessions (identity).
	`
CREATE TABLE users (
	name           TEXT PRIMARY KEY,
	password_hash  TEXT NOT NULL,
	totp_secret    BLOB,
	totp_last_step INTEGER NOT NULL DEFAULT 0,
	recovery       BLOB,
	roles          TEXT NOT NULL DEFAULT '',
	failures       INTEGER NOT NULL DEFAULT 0,
	last_failure   INTEGER NOT NULL DEFAULT 0,
	locked_until   INTEGER NOT NULL DEFAULT 0,
	created        INTEGER NOT NULL
);

CREATE TABLE sessions (
	hash      BLOB PRIMARY KEY,
	user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
	created   INTEGER NOT NULL,
	last_seen INTEGER NOT NULL,
	mfa_at    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_by_user ON sessions (user_name);
`,
	// 3: access keys minted from an MFA-verified session carry its time.
	`
ALTER TABLE access_keys ADD COLUMN mfa_at INTEGER NOT NULL DEFAULT 0;
`,
	// 4: administrator-defined policies and roles (built-ins live in code).
	`
CREATE TABLE policies (
	name     TEXT PRIMARY KEY,
	document TEXT NOT NULL
);
CREATE TABLE roles (
	name         TEXT PRIMARY KEY,
	policies     TEXT NOT NULL,
	mfa_at_login INTEGER NOT NULL DEFAULT 0
);
`,
	// 5: groups: a user's roles are their own plus their groups'.
	`
CREATE TABLE groups (
	name  TEXT PRIMARY KEY,
	roles TEXT NOT NULL DEFAULT ''
);
ALTER TABLE users ADD COLUMN groups TEXT NOT NULL DEFAULT '';
`,
	// 6: the audit search index (the ledger is the source of truth; this
	// is derived from it and can be rebuilt by re-exporting).
	`
CREATE TABLE audit_events (
	ledger_index INTEGER PRIMARY KEY,
	time         INTEGER NOT NULL,
	actor        TEXT NOT NULL,
	access_key   TEXT NOT NULL,
	action       TEXT NOT NULL,
	resource     TEXT NOT NULL,
	outcome      TEXT NOT NULL,
	source_ip    TEXT NOT NULL
);
CREATE INDEX audit_events_by_actor ON audit_events (actor, ledger_index);
CREATE INDEX audit_events_by_action ON audit_events (action, ledger_index);
CREATE INDEX audit_events_by_resource ON audit_events (resource, ledger_index);
CREATE INDEX audit_events_by_time ON audit_events (time, ledger_index);
`,
	// 7: content scanning. object_scans holds the labels of the version
	// (objects.version_id) that was scanned; a version without a row (or
	// with a row for an older version) is unscanned. The labels are a JSON
	// array of finding types with their confidence, count and first
	// place; never the values found. bucket_scan holds the upload gate.
	`
CREATE TABLE object_scans (
	object_id  INTEGER PRIMARY KEY REFERENCES objects(id) ON DELETE CASCADE,
	version_id TEXT NOT NULL,
	scanned    INTEGER NOT NULL,
	labels     TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE bucket_scan (
	bucket         TEXT PRIMARY KEY REFERENCES buckets(name) ON DELETE CASCADE,
	reject         TEXT NOT NULL DEFAULT '',
	min_confidence INTEGER NOT NULL DEFAULT 0
);
`,
	// 8: access keys: when last used, and an optional narrowing policy.
	`
ALTER TABLE access_keys ADD COLUMN last_used INTEGER NOT NULL DEFAULT 0;
ALTER TABLE access_keys ADD COLUMN policy TEXT NOT NULL DEFAULT '';
`,
}

// schemaVersion is the schema version this code writes and understands.
func schemaVersion() int { return len(migrations) }
