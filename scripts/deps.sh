#!/bin/sh
# Installs the Debian packages sluice needs when they are missing (as root),
# or prints the exact apt-get line and stops (as anyone else).
# Usage: scripts/deps.sh [build|test|bench]
set -eu
what=${1:-build}
pkgs="build-essential cmake pkg-config python3 libssl-dev libjansson-dev libsqlite3-dev
      libmicrohttpd-dev libcurl4-openssl-dev libpq-dev"
case "$what" in
# nodejs (with npm) runs the pinned @huggingface/hub of tests/hf, openai of
# tests/openai and node-llama-cpp of tests/llama (npm ci; llama.cpp comes
# prebuilt inside its npm package); postgresql runs the PostgreSQL configuration of the
# tests (pgserver.py); nginx balances the three servers of test_multi.py;
# chromium is the browser the web UI tests drive (pinned playwright-core of
# tests/web, test_web_ui.py) and `make screenshots` photographs
test) pkgs="$pkgs libcriterion-dev clang libclang-rt-14-dev clang-format valgrind nodejs postgresql nginx chromium" ;;
# bench_scale.py also runs PostgreSQL (and moto and the aws CLI, from pip)
bench) pkgs="$pkgs libcriterion-dev nginx wrk curl openssl docker-registry apache2-utils postgresql" ;;
esac
missing=""
for p in $pkgs; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in
    *"install ok installed"*) ;;
    *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0
line="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
    echo "sluice needs these Debian packages:$missing" >&2
    echo "run as root:  $line" >&2
    exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
