#!/usr/bin/env bash
# Installs the npm dependencies (npm ci) when node_modules is missing or
# incomplete, so `npm test` works as the first command on a fresh clone.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x node_modules/.bin/tap ] && [ -x node_modules/.bin/tsc ] && [ -d node_modules/thrift ]; then exit 0; fi
echo "ensure-node-deps: node_modules is missing or incomplete: npm ci" >&2
npm ci --no-audit --no-fund
