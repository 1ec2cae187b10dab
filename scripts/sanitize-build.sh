#!/bin/sh
# Builds the sanitizer tree: clang, ASan+UBSan, fuzzers. Run by CTest.
set -eu
src=$1
dir=$2
CC=${SANITIZE_CC:-clang} cmake -S "$src" -B "$dir" -DCMAKE_BUILD_TYPE=Debug \
    -DSLUICE_SANITIZE=ON -DSLUICE_FUZZ=ON -DSLUICE_NESTED=ON >"$dir.log" 2>&1 ||
    { cat "$dir.log"; exit 1; }
cmake --build "$dir" -j"$(nproc)" >>"$dir.log" 2>&1 || { tail -50 "$dir.log"; exit 1; }
echo "sanitizer build ready in $dir"
