#!/bin/sh
# The storage seam (docs/ARCHITECTURE.md): SQL lives only in src/db/. Fails,
# naming file and line, when any other module prepares a statement, runs
# SQL, or includes SQLite or libpq.
set -eu
root=${1:-.}
cd "$root"
hits=$(grep -nE 'sl_db_stmt|sl_stmt_[a-z_]+\(|sl_db_exec|#include *[<"](sqlite3|libpq-fe)\.h|"(SELECT|INSERT INTO|UPDATE [a-z_]+ SET|DELETE FROM|CREATE TABLE) ' \
    $(find src -name '*.[ch]' ! -path 'src/db/*' | sort) || true)
if [ -n "$hits" ]; then
    echo "SQL outside src/db/ (the storage seam):" >&2
    echo "$hits" >&2
    exit 1
fi
echo "storage seam: no SQL outside src/db/"
