#!/usr/bin/env bash
# Every test, after all set-up: the README's test command. Unit, kernel and
# webview tests (npm test), then the extension end to end in code-server
# (npm run test:e2e, which installs code-server on its first run).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
npm test
npm run test:e2e
