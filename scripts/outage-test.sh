#!/usr/bin/env bash
# The long outage test of the resilience suite: the downstream vendor answers
# 503, then times out, then answers 429, each for SECONDS (default 60), under
# a steady webhook load; release build. The same test runs with 3 s per
# outage in `cargo test` (tests/it/outage.rs).
#   scripts/outage-test.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
export REQFLOW_OUTAGE_SECONDS="${1:-60}"
exec cargo test --release --test it outage:: -- --nocapture
