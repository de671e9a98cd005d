#!/usr/bin/env bash
# Scale-out across hosts, longer: PostgreSQL, the sandbox and SERVES `reqflow serve` processes (default
# 3), each in its own network namespace of this machine, EVENTS webhooks (default 10,000) sent to all the
# serves in turn while one of them is `kill -9`ed, on a release build. The same test runs smaller in
# `cargo test` (tests/it/hosts.rs). Needs root, `ip` (iproute2) and PostgreSQL's server binaries
# (/usr/lib/postgresql/*/bin); elsewhere it says SKIPPED. Prints the figures: events, runs, calls made
# twice (in flight at the kill), takeover time, schedule slots.
#   scripts/hosts-test.sh [EVENTS] [SERVES] [LEASE_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
export REQFLOW_HOSTS_EVENTS="${1:-10000}" REQFLOW_HOSTS_SERVES="${2:-3}" REQFLOW_HOSTS_LEASE_S="${3:-2}"
exec cargo test --release --test it hosts:: -- --nocapture
