/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Numbered schema migrations. Each runs in its own transaction together with
 * the bump of PRAGMA user_version, so a crash leaves the schema at a
 * numbered state. Append new migrations; never edit a shipped one.
 */
#include "db/db.h"

#include <stdio.h>

#include "common/banned.h"

void sl__db_set_schema(struct sl_db *db, int v);
enum sl_err sl__db_migrate(struct sl_db *db, struct sl_error *err);

static const char *const migrations[] = {
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
};

enum sl_err sl__db_migrate(struct sl_db *db, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "PRAGMA user_version", err);
    int have;
    enum sl_err rc;

    if (!st)
        return err ? err->code : SL_EINTERNAL;
    if (sl_stmt_step(st, err) != 1) {
        sl_stmt_done(st);
        return err ? err->code : SL_EINTERNAL;
    }
    have = (int)sl_stmt_col_int(st, 0);
    sl_stmt_done(st);
    if (have > (int)(sizeof(migrations) / sizeof(migrations[0])))
        return sl_error_set(err, SL_EUNSUPPORTED,
                            "database schema version %d is newer than this sluice (%zu)", have,
                            sizeof(migrations) / sizeof(migrations[0]));
    for (int v = have; v < (int)(sizeof(migrations) / sizeof(migrations[0])); v++) {
        char bump[64];
        rc = sl_db_begin(db, err);
        if (!rc)
            rc = sl_db_exec(db, migrations[v], err);
        snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
        if (!rc)
            rc = sl_db_exec(db, bump, err);
        if (!rc)
            rc = sl_db_commit(db, err);
        if (rc) {
            sl_db_rollback(db);
            sl_error_prefix(err, "migration %d", v + 1);
            return rc;
        }
    }
    sl__db_set_schema(db, (int)(sizeof(migrations) / sizeof(migrations[0])));
    return SL_OK;
}
