#!/usr/bin/env bash
# Runs every test of the workspace: unit tests and end-to-end tests with real containers (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --workspace --no-fail-fast "$@"
