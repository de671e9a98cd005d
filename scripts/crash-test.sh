#!/usr/bin/env bash
# The long crash test of the resilience suite: EVENTS webhooks (default
# 10,000) while `reqflow serve` is `kill -9`ed and restarted KILLS times
# (default 10), on a release build. The same test runs smaller in
# `cargo test` (tests/it/crash.rs). Prints the duplicate/replay counts.
#   scripts/crash-test.sh [EVENTS] [KILLS]
set -euo pipefail
cd "$(dirname "$0")/.."
export REQFLOW_CRASH_EVENTS="${1:-10000}" REQFLOW_CRASH_KILLS="${2:-10}"
exec cargo test --release --test it crash:: -- --nocapture
