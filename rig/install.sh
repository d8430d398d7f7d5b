#!/usr/bin/env bash
# Installs what the test rig needs when it is missing, and nothing else:
#   - Debian's redis-server, kcat and chromium (apt; chromium drives the web
#     page's test, pkg/api),
#   - Apache Kafka's broker jars, fetched by rig/pom.xml into .cache/kafka/libs
#     (reused when present; delete the folder to fetch again).
# Idempotent: a second run with everything present does no network I/O.
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${JOURNEY_CACHE:-$PWD/.cache}
libs=$cache/kafka/libs

fail() { echo "rig/install: $*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    fail "need root (or sudo) to run: $*"; fi
}

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v kcat >/dev/null || missing+=(kcat)
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || fail "missing ${missing[*]} and no apt-get to install them; install them yourself"
  echo "rig/install: installing ${missing[*]} with apt-get"
  as_root apt-get update -qq || fail "apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || fail "apt-get install ${missing[*]} failed"
fi

command -v java >/dev/null || fail "java not found: Kafka needs a Java 17+ runtime"
if [ ! -f "$libs/.complete" ]; then
  command -v mvn >/dev/null || fail "mvn not found: it fetches Kafka's jars (rig/pom.xml)"
  echo "rig/install: fetching Apache Kafka jars into $libs"
  rm -rf "$libs"
  mkdir -p "$cache"
  if ! mvn -q -B -ntp -Dstyle.color=never -f rig/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$libs" > "$cache/mvn.log" 2>&1; then
    cat "$cache/mvn.log" >&2
    fail "mvn could not fetch Kafka's jars (rig/pom.xml); its output is above"
  fi
  ls "$libs"/kafka_2.13-*.jar >/dev/null 2>&1 || fail "no kafka_2.13 jar in $libs after mvn"
  touch "$libs/.complete"
fi
