#!/usr/bin/env bash
# Every test, after all set-up: the README's test command. Unit, kernel and
# webview tests (npm test); the extension end to end in code-server (npm run
# test:e2e, which installs code-server on its first run); the RFC's ioctl in
# a kernel of ours under qemu (npm run test:kernel, which builds that kernel
# on its first run: about 4.5 minutes cold, seconds warm).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
npm test
npm run test:e2e
npm run test:kernel
