#!/usr/bin/env bash
# Every test, after all set-up: the README's test command.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
npm test
