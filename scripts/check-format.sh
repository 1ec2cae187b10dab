#!/bin/sh
# Fails (and names the files) when clang-format would change any C file.
set -eu
root=${1:-.}
cd "$root"
bad=""
for f in $(git ls-files -co --exclude-standard -- 'src/*.c' 'src/*.h' 'include/*.h' 'tests/*.c' \
           'fuzz/*.c' 'bench/*.c' 2>/dev/null || find src include tests fuzz bench -name '*.[ch]'); do
    [ -f "$f" ] || continue
    clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
if [ -n "$bad" ]; then
    echo "clang-format would change:$bad" >&2
    echo "run: make format" >&2
    exit 1
fi
echo "clang-format: all files clean"
