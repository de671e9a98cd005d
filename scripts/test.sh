#!/usr/bin/env bash
# The README's test command: `cargo test --workspace`, with what the tests
# need where it can be had, and a summary of what was skipped and why.
#
# - Installs `xmllint` (libxml2-utils, the Workday XSD checks) and `psql`
#   (postgresql-client, the PostgreSQL tests create their databases with it)
#   when missing and this user can (root with apt-get), and `ip` (iproute2: the
#   multi-host test, which runs as root only).
# - Runs the PostgreSQL tests when a server answers on 127.0.0.1:5432
#   (REQFLOW_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test).
# - Prints every skipped test with its reason at the end (cargo hides the
#   output of passing tests).
# Extra arguments go to `cargo test`.
set -uo pipefail
cd "$(dirname "$0")/.."

need=()
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
[ -x /usr/bin/chromium ] || need+=(chromium)
if ((${#need[@]})) && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test.sh: installing ${need[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; } >/dev/null 2>&1 \
    || echo "test.sh: could not install ${need[*]}; the tests that need them will say SKIPPED"
fi

# The console's browser test: playwright-core from npm (tests/browser/package-lock.json).
if [ ! -d tests/browser/node_modules/playwright-core ] && command -v npm >/dev/null 2>&1; then
  echo "test.sh: installing playwright-core (tests/browser)"
  (cd tests/browser && npm ci --no-audit --no-fund >/dev/null 2>&1) \
    || echo "test.sh: could not install playwright-core; the browser test will say SKIPPED"
fi

if [ -z "${REQFLOW_TEST_POSTGRES_URL:-}" ] && command -v psql >/dev/null 2>&1 \
  && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  export REQFLOW_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
fi
echo "test.sh: PostgreSQL tests: ${REQFLOW_TEST_POSTGRES_URL:-not run (no server on 127.0.0.1:5432, or no psql)}"

REQFLOW_SKIP_LOG="$(mktemp)"
export REQFLOW_SKIP_LOG
trap 'rm -f "$REQFLOW_SKIP_LOG"' EXIT
cargo test --workspace "$@"
status=$?
echo
if [ -s "$REQFLOW_SKIP_LOG" ]; then
  echo "test.sh: skipped ($(wc -l <"$REQFLOW_SKIP_LOG") tests):"
  sort "$REQFLOW_SKIP_LOG" | sed 's/^/  /'
else
  echo "test.sh: nothing skipped"
fi
exit $status
