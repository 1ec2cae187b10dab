/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Numbered schema migrations, one list per dialect with the same numbering:
 * migration N on SQLite and migration N on PostgreSQL make the same tables.
 * Each runs in its own transaction together with the bump of the stored
 * version (PRAGMA user_version on SQLite, the schema_version table on
 * PostgreSQL, where DDL is transactional too), so a crash leaves the schema
 * at a numbered state. Append new migrations to both lists; never edit a
 * shipped one.
 */
#include "db/db_int.h"

#include <stdio.h>

#include "common/banned.h"

static const char *const sqlite_migrations[] = {
    /* 1: accounts, models, versions, content-addressed files and chunks */
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, email TEXT, affiliation TEXT,"
    "  country TEXT, is_admin INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);"
    "CREATE TABLE orgs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE members ("
    "  org_id INTEGER NOT NULL REFERENCES orgs(id), user_id INTEGER NOT NULL REFERENCES users(id),"
    "  role TEXT NOT NULL CHECK (role IN ('publisher', 'member')), PRIMARY KEY (org_id, user_id));"
    "CREATE TABLE tokens ("
    "  id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),"
    "  hash BLOB NOT NULL UNIQUE, scopes TEXT NOT NULL, name TEXT, created INTEGER NOT NULL,"
    "  expires INTEGER, revoked INTEGER);"
    "CREATE TABLE models ("
    "  id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL REFERENCES orgs(id), name TEXT NOT NULL,"
    "  created INTEGER NOT NULL, UNIQUE (org_id, name));"
    "CREATE TABLE packs ("
    "  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, size INTEGER NOT NULL,"
    "  created INTEGER NOT NULL, retired INTEGER);"
    "CREATE TABLE chunks ("
    "  id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, pack_id INTEGER NOT NULL REFERENCES"
    "  packs(id), pack_offset INTEGER NOT NULL, length INTEGER NOT NULL, created INTEGER NOT NULL);"
    "CREATE INDEX chunks_pack ON chunks (pack_id);"
    "CREATE TABLE chunk_owners ("
    "  chunk_id INTEGER NOT NULL REFERENCES chunks(id), org_id INTEGER NOT NULL REFERENCES"
    "  orgs(id), PRIMARY KEY (org_id, chunk_id)) WITHOUT ROWID;"
    "CREATE TABLE blobs ("
    "  id INTEGER PRIMARY KEY, sha256 BLOB NOT NULL UNIQUE, size INTEGER NOT NULL,"
    "  nchunks INTEGER NOT NULL);"
    "CREATE TABLE blob_chunks ("
    "  blob_id INTEGER NOT NULL REFERENCES blobs(id), idx INTEGER NOT NULL,"
    "  file_offset INTEGER NOT NULL, chunk_id INTEGER NOT NULL REFERENCES chunks(id),"
    "  PRIMARY KEY (blob_id, idx)) WITHOUT ROWID;"
    "CREATE INDEX blob_chunks_offset ON blob_chunks (blob_id, file_offset);"
    "CREATE INDEX blob_chunks_chunk ON blob_chunks (chunk_id);"
    "CREATE TABLE versions ("
    "  id INTEGER PRIMARY KEY, model_id INTEGER NOT NULL REFERENCES models(id),"
    "  seq INTEGER NOT NULL, commit_hash TEXT NOT NULL UNIQUE, manifest TEXT NOT NULL,"
    "  tier TEXT NOT NULL, min_tier TEXT NOT NULL, decision TEXT NOT NULL, inspect TEXT,"
    "  license TEXT, bytes_total INTEGER NOT NULL, created INTEGER NOT NULL,"
    "  created_by INTEGER REFERENCES users(id), UNIQUE (model_id, seq));"
    "CREATE TABLE version_files ("
    "  version_id INTEGER NOT NULL REFERENCES versions(id), path TEXT NOT NULL,"
    "  blob_id INTEGER NOT NULL REFERENCES blobs(id), PRIMARY KEY (version_id, path))"
    "  WITHOUT ROWID;"
    "CREATE INDEX version_files_blob ON version_files (blob_id);"
    "CREATE TABLE refs ("
    "  model_id INTEGER NOT NULL REFERENCES models(id), name TEXT NOT NULL,"
    "  version_id INTEGER NOT NULL REFERENCES versions(id), PRIMARY KEY (model_id, name));",
    /* 2: files registered before a commit names them live until gc's grace */
    "ALTER TABLE blobs ADD COLUMN created INTEGER NOT NULL DEFAULT 0;",
    /* 3: tiered access (docs/access.md) and the transparency log (docs/log.md) */
    "ALTER TABLE versions ADD COLUMN floor_tier TEXT;"
    "ALTER TABLE users ADD COLUMN removed INTEGER;"
    "CREATE TABLE acceptances ("
    "  user_id INTEGER NOT NULL REFERENCES users(id), model_id INTEGER NOT NULL REFERENCES"
    "  models(id), license_sha256 TEXT NOT NULL, accepted INTEGER NOT NULL,"
    "  PRIMARY KEY (user_id, model_id, license_sha256)) WITHOUT ROWID;"
    "CREATE TABLE access_requests ("
    "  id INTEGER PRIMARY KEY, model_id INTEGER NOT NULL REFERENCES models(id),"
    "  user_id INTEGER NOT NULL REFERENCES users(id), status TEXT NOT NULL CHECK (status IN"
    "  ('pending', 'approved', 'denied', 'revoked', 'expired')), purpose TEXT NOT NULL,"
    "  fields TEXT NOT NULL, created INTEGER NOT NULL, decided INTEGER, decided_by INTEGER,"
    "  reason TEXT, appeal TEXT, appealed INTEGER, denials INTEGER NOT NULL DEFAULT 0,"
    "  expires INTEGER, auto_rule TEXT, grant_seq INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (model_id, user_id));"
    "CREATE INDEX access_expiring ON access_requests (expires) WHERE status = 'approved';"
    "CREATE TABLE access_rules ("
    "  model_id INTEGER PRIMARY KEY REFERENCES models(id), rules TEXT NOT NULL);"
    "CREATE TABLE licenses ("
    "  id TEXT PRIMARY KEY, request_id INTEGER NOT NULL REFERENCES access_requests(id),"
    "  grant_seq INTEGER NOT NULL, version_id INTEGER NOT NULL REFERENCES versions(id),"
    "  issued INTEGER NOT NULL, note TEXT NOT NULL, revoked INTEGER, log_idx INTEGER,"
    "  UNIQUE (request_id, grant_seq, version_id));"
    "CREATE INDEX licenses_revoked ON licenses (revoked) WHERE revoked IS NOT NULL;"
    "CREATE TABLE eval_keys ("
    "  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, user_id INTEGER NOT NULL REFERENCES"
    "  users(id), key_id INTEGER NOT NULL, pub BLOB NOT NULL, vkey TEXT NOT NULL,"
    "  added INTEGER NOT NULL);"
    "CREATE TABLE attestations ("
    "  id INTEGER PRIMARY KEY, version_id INTEGER NOT NULL REFERENCES versions(id),"
    "  key_id INTEGER NOT NULL REFERENCES eval_keys(id), domain TEXT NOT NULL,"
    "  level TEXT NOT NULL, method TEXT NOT NULL, date INTEGER NOT NULL, note TEXT NOT NULL,"
    "  note_sha256 TEXT NOT NULL UNIQUE, created INTEGER NOT NULL);"
    "CREATE INDEX attestations_version ON attestations (version_id);"
    "CREATE TABLE evidence ("
    "  version_id INTEGER NOT NULL REFERENCES versions(id), obligation TEXT NOT NULL,"
    "  evidence TEXT NOT NULL, user_id INTEGER NOT NULL, created INTEGER NOT NULL,"
    "  PRIMARY KEY (version_id, obligation)) WITHOUT ROWID;"
    "CREATE TABLE schedule ("
    "  id INTEGER PRIMARY KEY, version_id INTEGER NOT NULL REFERENCES versions(id),"
    "  tier TEXT NOT NULL, at INTEGER NOT NULL, status TEXT NOT NULL CHECK (status IN"
    "  ('pending', 'done', 'refused')), reason TEXT, created INTEGER NOT NULL,"
    "  created_by INTEGER NOT NULL, done INTEGER);"
    "CREATE INDEX schedule_due ON schedule (at) WHERE status = 'pending';"
    "ALTER TABLE versions ADD COLUMN log_idx INTEGER;"
    "CREATE TABLE log_entries ("
    "  idx INTEGER PRIMARY KEY, entry TEXT NOT NULL, created INTEGER NOT NULL, model TEXT);"
    "CREATE INDEX log_entries_model ON log_entries (model, idx) WHERE model IS NOT NULL;"
    "CREATE TABLE log_hashes ("
    "  level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
    "  PRIMARY KEY (level, idx)) WITHOUT ROWID;"
    "CREATE TABLE log_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE log_checkpoints ("
    "  size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL,"
    "  created INTEGER NOT NULL);",
    /* 4: fingerprints (docs/fingerprint.md) */
    "CREATE TABLE fp_lineages ("
    "  model_id INTEGER PRIMARY KEY REFERENCES models(id), density REAL NOT NULL,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE fp_recipients ("
    "  id INTEGER PRIMARY KEY, model_id INTEGER NOT NULL REFERENCES models(id),"
    "  user_id INTEGER NOT NULL REFERENCES users(id), commitment TEXT NOT NULL,"
    "  created INTEGER NOT NULL, UNIQUE (model_id, user_id));"
    "CREATE TABLE fp_copies ("
    "  recipient_id INTEGER NOT NULL REFERENCES fp_recipients(id),"
    "  blob_id INTEGER NOT NULL REFERENCES blobs(id), sha256 TEXT NOT NULL,"
    "  PRIMARY KEY (recipient_id, blob_id)) WITHOUT ROWID;",
    /* 5: revocations stick (history, no more auto-approval), evaluator keys
     * can be revoked, orgs get an admin role (docs/access.md) */
    "ALTER TABLE access_requests ADD COLUMN history TEXT;"
    "ALTER TABLE access_requests ADD COLUMN no_auto INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE eval_keys ADD COLUMN revoked INTEGER;"
    "CREATE TABLE members_new ("
    "  org_id INTEGER NOT NULL REFERENCES orgs(id), user_id INTEGER NOT NULL REFERENCES users(id),"
    "  role TEXT NOT NULL CHECK (role IN ('admin', 'publisher', 'member')),"
    "  PRIMARY KEY (org_id, user_id));"
    "INSERT INTO members_new SELECT org_id, user_id, role FROM members;"
    "DROP TABLE members;"
    "ALTER TABLE members_new RENAME TO members;",
    /* 6: download counts per version and UTC day (docs/api.md) */
    "CREATE TABLE downloads ("
    "  version_id INTEGER NOT NULL REFERENCES versions(id), day INTEGER NOT NULL,"
    "  n INTEGER NOT NULL, PRIMARY KEY (version_id, day)) WITHOUT ROWID;",
    /* 7: the hosted gateway's inference backends (docs/hosted.md): several
     * per model, for every version (version_id NULL) or one; the API key is
     * never stored, only the name of the server's environment variable */
    "CREATE TABLE hosted_backends ("
    "  id INTEGER PRIMARY KEY, model_id INTEGER NOT NULL REFERENCES models(id),"
    "  version_id INTEGER REFERENCES versions(id), url TEXT NOT NULL, backend_model TEXT,"
    "  key_env TEXT, created INTEGER NOT NULL);"
    "CREATE INDEX hosted_backends_model ON hosted_backends (model_id);",
    /* 8: the hosted gateway's quotas (user_id 0: the model's default), the
     * requests of each minute and the tokens of each UTC day per caller
     * (user_id 0: anonymous), kept in the database so that every server of
     * a hub counts the same (docs/hosted.md) */
    "CREATE TABLE hosted_quotas ("
    "  model_id INTEGER NOT NULL REFERENCES models(id), user_id INTEGER NOT NULL,"
    "  rpm INTEGER, tokens_per_day INTEGER, PRIMARY KEY (model_id, user_id)) WITHOUT ROWID;"
    "CREATE TABLE hosted_rate ("
    "  model_id INTEGER NOT NULL, user_id INTEGER NOT NULL, minute INTEGER NOT NULL,"
    "  n INTEGER NOT NULL, PRIMARY KEY (model_id, user_id, minute)) WITHOUT ROWID;"
    "CREATE TABLE hosted_usage ("
    "  model_id INTEGER NOT NULL REFERENCES models(id),"
    "  version_id INTEGER NOT NULL REFERENCES versions(id), user_id INTEGER NOT NULL,"
    "  day INTEGER NOT NULL, calls INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL,"
    "  completion_tokens INTEGER NOT NULL, PRIMARY KEY (version_id, user_id, day))"
    "  WITHOUT ROWID;"
    "CREATE INDEX hosted_usage_model ON hosted_usage (model_id, day);",
    /* 9: the hosted gateway's concurrency quota: a model's (or a caller's)
     * limit of calls at once, and the calls running now, one row each,
     * leased: a row whose server died without removing it counts until
     * its lease runs out (docs/hosted.md, "Quotas"); the calls refused per
     * model, UTC day, reason and filter rule id (never the text; "" for
     * quotas), and the (model, day) pairs whose usage is in the
     * transparency log already (docs/hosted.md, "Usage") */
    "ALTER TABLE hosted_quotas ADD COLUMN concurrency INTEGER;"
    "CREATE TABLE hosted_slots ("
    "  id INTEGER PRIMARY KEY, model_id INTEGER NOT NULL, user_id INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL);"
    "CREATE INDEX hosted_slots_caller ON hosted_slots (model_id, user_id);"
    "CREATE TABLE hosted_refusals ("
    "  model_id INTEGER NOT NULL REFERENCES models(id), day INTEGER NOT NULL,"
    "  reason TEXT NOT NULL, rule TEXT NOT NULL, n INTEGER NOT NULL,"
    "  PRIMARY KEY (model_id, day, reason, rule)) WITHOUT ROWID;"
    "CREATE TABLE hosted_usage_logged ("
    "  model_id INTEGER NOT NULL, day INTEGER NOT NULL, PRIMARY KEY (model_id, day))"
    "  WITHOUT ROWID;",
    /* 10: the hosted gateway's filters (docs/hosted.md, "Filters"): one
     * policy per model, its canonical JSON, read at the start of every call
     * so every server of a hub applies the same */
    "CREATE TABLE hosted_filters ("
    "  model_id INTEGER PRIMARY KEY REFERENCES models(id), policy TEXT NOT NULL,"
    "  updated INTEGER NOT NULL);",
    /* 11: the web UI's accounts (docs/web.md, "Sessions"): browser sessions
     * by the SHA-256 of their id, sign-up invitations by the SHA-256 of
     * their code, and what a user said about themselves at sign-up */
    "CREATE TABLE web_sessions ("
    "  id_hash BLOB PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),"
    "  token_id INTEGER NOT NULL REFERENCES tokens(id), scopes TEXT NOT NULL,"
    "  csrf TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL);"
    "CREATE INDEX web_sessions_expires ON web_sessions (expires);"
    "CREATE TABLE invitations ("
    "  id INTEGER PRIMARY KEY, code_hash BLOB NOT NULL UNIQUE, email TEXT,"
    "  created INTEGER NOT NULL, expires INTEGER NOT NULL,"
    "  created_by INTEGER REFERENCES users(id), used_by INTEGER REFERENCES users(id));"
    "CREATE TABLE user_profiles ("
    "  user_id INTEGER PRIMARY KEY REFERENCES users(id), name TEXT, email TEXT,"
    "  affiliation TEXT, country TEXT, created INTEGER NOT NULL);",
    /* 12: prompt retention of the hosted gateway (docs/hosted.md,
     * "Retention"): a model's retention in days (no row: nothing kept), and
     * the prompts and completions kept, each row with the time it must be
     * deleted by (the retention promised when the call was made) */
    "CREATE TABLE hosted_retention ("
    "  model_id INTEGER PRIMARY KEY REFERENCES models(id), days INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL);"
    "CREATE TABLE hosted_retained ("
    "  id INTEGER PRIMARY KEY, model_id INTEGER NOT NULL REFERENCES models(id),"
    "  version_id INTEGER NOT NULL REFERENCES versions(id), user_id INTEGER NOT NULL,"
    "  created INTEGER NOT NULL, expires INTEGER NOT NULL, endpoint TEXT NOT NULL,"
    "  prompt TEXT NOT NULL, prompt_truncated INTEGER NOT NULL, completion TEXT NOT NULL,"
    "  completion_truncated INTEGER NOT NULL);"
    "CREATE INDEX hosted_retained_model ON hosted_retained (model_id, created);"
    "CREATE INDEX hosted_retained_expires ON hosted_retained (expires);",
    /* 13: the web UI's sign-up limit (docs/web.md, "Sessions"), one count
     * for every server of a hub: each sign-up let through, by the keyed
     * hash of its client address (IPv4, or IPv6 /64) and its time; rows
     * older than the hour are deleted by the leader */
    "CREATE TABLE signup_attempts ("
    "  addr_hash BLOB NOT NULL, at INTEGER NOT NULL);"
    "CREATE INDEX signup_attempts_addr ON signup_attempts (addr_hash, at);"
    "CREATE INDEX signup_attempts_at ON signup_attempts (at);",
};

/*
 * PostgreSQL: the same tables. SQLite's INTEGER is 64-bit, so every integer is
 * BIGINT here; row ids are identity columns (BY DEFAULT, so a copy from
 * SQLite may keep its ids); BLOB is BYTEA; REAL is DOUBLE PRECISION (REAL is
 * 4 bytes here); WITHOUT ROWID has no meaning and is dropped; TEXT has
 * the "C" collation.
 */
#define ID "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
/* Text compares and sorts byte by byte, as in SQLite, whatever the
 * database's default collation (names and paths are listed in order). */
#define T "TEXT COLLATE \"C\""

static const char *const pg_migrations[] = {
    /* 1 */
    "CREATE TABLE users (" ID ", name " T " NOT NULL UNIQUE, email " T ", affiliation " T ","
    "  country " T ", is_admin BIGINT NOT NULL DEFAULT 0, created BIGINT NOT NULL);"
    "CREATE TABLE orgs (" ID ", name " T " NOT NULL UNIQUE, created BIGINT NOT NULL);"
    "CREATE TABLE members ("
    "  org_id BIGINT NOT NULL REFERENCES orgs(id), user_id BIGINT NOT NULL REFERENCES users(id),"
    "  role " T " NOT NULL CONSTRAINT members_role_check CHECK (role IN ('publisher', 'member')),"
    "  PRIMARY KEY (org_id, user_id));"
    "CREATE TABLE tokens (" ID ", user_id BIGINT NOT NULL REFERENCES users(id),"
    "  hash BYTEA NOT NULL UNIQUE, scopes " T " NOT NULL, name " T ", created BIGINT NOT NULL,"
    "  expires BIGINT, revoked BIGINT);"
    "CREATE TABLE models (" ID ", org_id BIGINT NOT NULL REFERENCES orgs(id),"
    "  name " T " NOT NULL, created BIGINT NOT NULL, UNIQUE (org_id, name));"
    "CREATE TABLE packs (" ID ", name " T " NOT NULL UNIQUE, size BIGINT NOT NULL,"
    "  created BIGINT NOT NULL, retired BIGINT);"
    "CREATE TABLE chunks (" ID ", hash BYTEA NOT NULL UNIQUE, pack_id BIGINT NOT NULL"
    "  REFERENCES packs(id), pack_offset BIGINT NOT NULL, length BIGINT NOT NULL,"
    "  created BIGINT NOT NULL);"
    "CREATE INDEX chunks_pack ON chunks (pack_id);"
    "CREATE TABLE chunk_owners ("
    "  chunk_id BIGINT NOT NULL REFERENCES chunks(id), org_id BIGINT NOT NULL REFERENCES"
    "  orgs(id), PRIMARY KEY (org_id, chunk_id));"
    "CREATE TABLE blobs (" ID ", sha256 BYTEA NOT NULL UNIQUE, size BIGINT NOT NULL,"
    "  nchunks BIGINT NOT NULL);"
    "CREATE TABLE blob_chunks ("
    "  blob_id BIGINT NOT NULL REFERENCES blobs(id), idx BIGINT NOT NULL,"
    "  file_offset BIGINT NOT NULL, chunk_id BIGINT NOT NULL REFERENCES chunks(id),"
    "  PRIMARY KEY (blob_id, idx));"
    "CREATE INDEX blob_chunks_offset ON blob_chunks (blob_id, file_offset);"
    "CREATE INDEX blob_chunks_chunk ON blob_chunks (chunk_id);"
    "CREATE TABLE versions (" ID ", model_id BIGINT NOT NULL REFERENCES models(id),"
    "  seq BIGINT NOT NULL, commit_hash " T " NOT NULL UNIQUE, manifest " T " NOT NULL,"
    "  tier " T " NOT NULL, min_tier " T " NOT NULL, decision " T " NOT NULL, inspect " T ","
    "  license " T ", bytes_total BIGINT NOT NULL, created BIGINT NOT NULL,"
    "  created_by BIGINT REFERENCES users(id), UNIQUE (model_id, seq));"
    "CREATE TABLE version_files ("
    "  version_id BIGINT NOT NULL REFERENCES versions(id), path " T " NOT NULL,"
    "  blob_id BIGINT NOT NULL REFERENCES blobs(id), PRIMARY KEY (version_id, path));"
    "CREATE INDEX version_files_blob ON version_files (blob_id);"
    "CREATE TABLE refs ("
    "  model_id BIGINT NOT NULL REFERENCES models(id), name " T " NOT NULL,"
    "  version_id BIGINT NOT NULL REFERENCES versions(id), PRIMARY KEY (model_id, name));",
    /* 2 */
    "ALTER TABLE blobs ADD COLUMN created BIGINT NOT NULL DEFAULT 0;",
    /* 3 */
    "ALTER TABLE versions ADD COLUMN floor_tier " T ";"
    "ALTER TABLE users ADD COLUMN removed BIGINT;"
    "CREATE TABLE acceptances ("
    "  user_id BIGINT NOT NULL REFERENCES users(id), model_id BIGINT NOT NULL REFERENCES"
    "  models(id), license_sha256 " T " NOT NULL, accepted BIGINT NOT NULL,"
    "  PRIMARY KEY (user_id, model_id, license_sha256));"
    "CREATE TABLE access_requests (" ID ", model_id BIGINT NOT NULL REFERENCES models(id),"
    "  user_id BIGINT NOT NULL REFERENCES users(id), status " T " NOT NULL CHECK (status IN"
    "  ('pending', 'approved', 'denied', 'revoked', 'expired')), purpose " T " NOT NULL,"
    "  fields " T " NOT NULL, created BIGINT NOT NULL, decided BIGINT, decided_by BIGINT,"
    "  reason " T ", appeal " T ", appealed BIGINT, denials BIGINT NOT NULL DEFAULT 0,"
    "  expires BIGINT, auto_rule " T ", grant_seq BIGINT NOT NULL DEFAULT 0,"
    "  UNIQUE (model_id, user_id));"
    "CREATE INDEX access_expiring ON access_requests (expires) WHERE status = 'approved';"
    "CREATE TABLE access_rules ("
    "  model_id BIGINT PRIMARY KEY REFERENCES models(id), rules " T " NOT NULL);"
    "CREATE TABLE licenses ("
    "  id " T " PRIMARY KEY, request_id BIGINT NOT NULL REFERENCES access_requests(id),"
    "  grant_seq BIGINT NOT NULL, version_id BIGINT NOT NULL REFERENCES versions(id),"
    "  issued BIGINT NOT NULL, note " T " NOT NULL, revoked BIGINT, log_idx BIGINT,"
    "  UNIQUE (request_id, grant_seq, version_id));"
    "CREATE INDEX licenses_revoked ON licenses (revoked) WHERE revoked IS NOT NULL;"
    "CREATE TABLE eval_keys (" ID ", name " T " NOT NULL UNIQUE, user_id BIGINT NOT NULL"
    "  REFERENCES users(id), key_id BIGINT NOT NULL, pub BYTEA NOT NULL, vkey " T " NOT NULL,"
    "  added BIGINT NOT NULL);"
    "CREATE TABLE attestations (" ID ", version_id BIGINT NOT NULL REFERENCES versions(id),"
    "  key_id BIGINT NOT NULL REFERENCES eval_keys(id), domain " T " NOT NULL,"
    "  level " T " NOT NULL, method " T " NOT NULL, date BIGINT NOT NULL, note " T " NOT NULL,"
    "  note_sha256 " T " NOT NULL UNIQUE, created BIGINT NOT NULL);"
    "CREATE INDEX attestations_version ON attestations (version_id);"
    "CREATE TABLE evidence ("
    "  version_id BIGINT NOT NULL REFERENCES versions(id), obligation " T " NOT NULL,"
    "  evidence " T " NOT NULL, user_id BIGINT NOT NULL, created BIGINT NOT NULL,"
    "  PRIMARY KEY (version_id, obligation));"
    "CREATE TABLE schedule (" ID ", version_id BIGINT NOT NULL REFERENCES versions(id),"
    "  tier " T " NOT NULL, at BIGINT NOT NULL, status " T " NOT NULL CHECK (status IN"
    "  ('pending', 'done', 'refused')), reason " T ", created BIGINT NOT NULL,"
    "  created_by BIGINT NOT NULL, done BIGINT);"
    "CREATE INDEX schedule_due ON schedule (at) WHERE status = 'pending';"
    "ALTER TABLE versions ADD COLUMN log_idx BIGINT;"
    "CREATE TABLE log_entries ("
    "  idx BIGINT PRIMARY KEY, entry " T " NOT NULL, created BIGINT NOT NULL, model " T ");"
    "CREATE INDEX log_entries_model ON log_entries (model, idx) WHERE model IS NOT NULL;"
    "CREATE TABLE log_hashes ("
    "  level BIGINT NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL,"
    "  PRIMARY KEY (level, idx));"
    "CREATE TABLE log_state (key " T " PRIMARY KEY, value " T " NOT NULL);"
    "CREATE TABLE log_checkpoints ("
    "  size BIGINT PRIMARY KEY, root BYTEA NOT NULL, note " T " NOT NULL,"
    "  created BIGINT NOT NULL);",
    /* 4 */
    "CREATE TABLE fp_lineages ("
    "  model_id BIGINT PRIMARY KEY REFERENCES models(id), density DOUBLE PRECISION NOT NULL,"
    "  created BIGINT NOT NULL);"
    "CREATE TABLE fp_recipients (" ID ", model_id BIGINT NOT NULL REFERENCES models(id),"
    "  user_id BIGINT NOT NULL REFERENCES users(id), commitment " T " NOT NULL,"
    "  created BIGINT NOT NULL, UNIQUE (model_id, user_id));"
    "CREATE TABLE fp_copies ("
    "  recipient_id BIGINT NOT NULL REFERENCES fp_recipients(id),"
    "  blob_id BIGINT NOT NULL REFERENCES blobs(id), sha256 " T " NOT NULL,"
    "  PRIMARY KEY (recipient_id, blob_id));",
    /* 5: PostgreSQL changes a CHECK in place (SQLite has to copy the table) */
    "ALTER TABLE access_requests ADD COLUMN history " T ";"
    "ALTER TABLE access_requests ADD COLUMN no_auto BIGINT NOT NULL DEFAULT 0;"
    "ALTER TABLE eval_keys ADD COLUMN revoked BIGINT;"
    "ALTER TABLE members DROP CONSTRAINT members_role_check;"
    "ALTER TABLE members ADD CONSTRAINT members_role_check"
    "  CHECK (role IN ('admin', 'publisher', 'member'));",
    /* 6 */
    "CREATE TABLE downloads ("
    "  version_id BIGINT NOT NULL REFERENCES versions(id), day BIGINT NOT NULL,"
    "  n BIGINT NOT NULL, PRIMARY KEY (version_id, day));",
    /* 7 */
    "CREATE TABLE hosted_backends (" ID ", model_id BIGINT NOT NULL REFERENCES models(id),"
    "  version_id BIGINT REFERENCES versions(id), url " T " NOT NULL, backend_model " T ","
    "  key_env " T ", created BIGINT NOT NULL);"
    "CREATE INDEX hosted_backends_model ON hosted_backends (model_id);",
    /* 8 */
    "CREATE TABLE hosted_quotas ("
    "  model_id BIGINT NOT NULL REFERENCES models(id), user_id BIGINT NOT NULL,"
    "  rpm BIGINT, tokens_per_day BIGINT, PRIMARY KEY (model_id, user_id));"
    "CREATE TABLE hosted_rate ("
    "  model_id BIGINT NOT NULL, user_id BIGINT NOT NULL, minute BIGINT NOT NULL,"
    "  n BIGINT NOT NULL, PRIMARY KEY (model_id, user_id, minute));"
    "CREATE TABLE hosted_usage ("
    "  model_id BIGINT NOT NULL REFERENCES models(id),"
    "  version_id BIGINT NOT NULL REFERENCES versions(id), user_id BIGINT NOT NULL,"
    "  day BIGINT NOT NULL, calls BIGINT NOT NULL, prompt_tokens BIGINT NOT NULL,"
    "  completion_tokens BIGINT NOT NULL, PRIMARY KEY (version_id, user_id, day));"
    "CREATE INDEX hosted_usage_model ON hosted_usage (model_id, day);",
    /* 9 */
    "ALTER TABLE hosted_quotas ADD COLUMN concurrency BIGINT;"
    "CREATE TABLE hosted_slots (" ID ", model_id BIGINT NOT NULL, user_id BIGINT NOT NULL,"
    "  expires BIGINT NOT NULL);"
    "CREATE INDEX hosted_slots_caller ON hosted_slots (model_id, user_id);"
    "CREATE TABLE hosted_refusals ("
    "  model_id BIGINT NOT NULL REFERENCES models(id), day BIGINT NOT NULL,"
    "  reason " T " NOT NULL, rule " T " NOT NULL, n BIGINT NOT NULL,"
    "  PRIMARY KEY (model_id, day, reason, rule));"
    "CREATE TABLE hosted_usage_logged ("
    "  model_id BIGINT NOT NULL, day BIGINT NOT NULL, PRIMARY KEY (model_id, day));",
    /* 10 */
    "CREATE TABLE hosted_filters ("
    "  model_id BIGINT PRIMARY KEY REFERENCES models(id), policy " T " NOT NULL,"
    "  updated BIGINT NOT NULL);",
    /* 11 */
    "CREATE TABLE web_sessions ("
    "  id_hash BYTEA PRIMARY KEY, user_id BIGINT NOT NULL REFERENCES users(id),"
    "  token_id BIGINT NOT NULL REFERENCES tokens(id), scopes " T " NOT NULL,"
    "  csrf " T " NOT NULL, created BIGINT NOT NULL, expires BIGINT NOT NULL);"
    "CREATE INDEX web_sessions_expires ON web_sessions (expires);"
    "CREATE TABLE invitations (" ID ", code_hash BYTEA NOT NULL UNIQUE, email " T ","
    "  created BIGINT NOT NULL, expires BIGINT NOT NULL,"
    "  created_by BIGINT REFERENCES users(id), used_by BIGINT REFERENCES users(id));"
    "CREATE TABLE user_profiles ("
    "  user_id BIGINT PRIMARY KEY REFERENCES users(id), name " T ", email " T ","
    "  affiliation " T ", country " T ", created BIGINT NOT NULL);",
    /* 12 */
    "CREATE TABLE hosted_retention ("
    "  model_id BIGINT PRIMARY KEY REFERENCES models(id), days BIGINT NOT NULL,"
    "  updated BIGINT NOT NULL);"
    "CREATE TABLE hosted_retained (" ID ", model_id BIGINT NOT NULL REFERENCES models(id),"
    "  version_id BIGINT NOT NULL REFERENCES versions(id), user_id BIGINT NOT NULL,"
    "  created BIGINT NOT NULL, expires BIGINT NOT NULL, endpoint " T " NOT NULL,"
    "  prompt " T " NOT NULL, prompt_truncated BIGINT NOT NULL, completion " T " NOT NULL,"
    "  completion_truncated BIGINT NOT NULL);"
    "CREATE INDEX hosted_retained_model ON hosted_retained (model_id, created);"
    "CREATE INDEX hosted_retained_expires ON hosted_retained (expires);",
    /* 13 */
    "CREATE TABLE signup_attempts ("
    "  addr_hash BYTEA NOT NULL, at BIGINT NOT NULL);"
    "CREATE INDEX signup_attempts_addr ON signup_attempts (addr_hash, at);"
    "CREATE INDEX signup_attempts_at ON signup_attempts (at);",
};

#undef ID
#undef T

_Static_assert(sizeof(sqlite_migrations) == sizeof(pg_migrations),
               "the SQLite and PostgreSQL migration lists must have the same length");

/* PostgreSQL: migrations run under a session-level advisory lock taken
 * before their transactions begin. Taking it inside a transaction would not
 * do: a transaction that waited for the lock still sees the catalog as it
 * was when it began (a table another server just created looks missing), so
 * it would run the same migration again. */
#define PG_MIGRATE_LOCK   "SELECT pg_advisory_lock(7236281745052958720)"
#define PG_MIGRATE_UNLOCK "SELECT pg_advisory_unlock(7236281745052958720)"

static enum sl_err migrate_locked(struct sl_db *db, const char *const *list, int n,
                                  struct sl_error *err)
{
    int have = 0;
    enum sl_err rc;

    for (;;) {
        /* Read the version inside the write transaction, which excludes
         * every other writer (on PostgreSQL also of other servers). */
        rc = db->drv->begin(db, err);
        if (!rc)
            rc = db->drv->schema_get(db, &have, err);
        if (!rc && have > n)
            rc = sl_error_set(err, SL_EUNSUPPORTED,
                              "database schema version %d is newer than this sluice (%d)", have, n);
        if (!rc && have == n) {
            rc = db->drv->commit(db, err);
            if (rc)
                goto fail;
            return SL_OK;
        }
        if (rc)
            goto fail;
        rc = db->drv->exec(db, list[have], err);
        if (!rc)
            rc = db->drv->schema_set(db, have + 1, err);
        if (!rc)
            rc = db->drv->commit(db, err);
        if (rc) {
            sl_error_prefix(err, "migration %d", have + 1);
            goto fail;
        }
    }
fail:
    db->drv->rollback(db);
    return rc;
}

enum sl_err sl__db_migrate(struct sl_db *db, struct sl_error *err)
{
    const char *const *list = sqlite_migrations;
    int n = (int)(sizeof(sqlite_migrations) / sizeof(sqlite_migrations[0]));
    bool pg = db->drv->kind == SL_DB_POSTGRESQL;
    int have = 0;
    enum sl_err rc;

    if (pg)
        list = pg_migrations;
    /* Up to date (the usual case): no lock needed. */
    if (db->drv->schema_get(db, &have, NULL) == SL_OK && have == n) {
        db->schema = n;
        return SL_OK;
    }
    if (pg) {
        rc = db->drv->exec(db, PG_MIGRATE_LOCK, err);
        if (rc)
            return rc;
    }
    rc = migrate_locked(db, list, n, err);
    if (pg)
        db->drv->exec(db, PG_MIGRATE_UNLOCK, NULL);
    if (!rc)
        db->schema = n;
    return rc;
}
