#!/usr/bin/env bash
# The main job on the bundled demo: VS Code (code-server, local) with the
# extension installed, opened on the demo workspace. Press F5 there: the
# demo program runs under the debugger, the extension attaches to it, and
# the Sideband panel draws its timeline live. The README's demo command.
#
#   bash scripts/demo.sh            serves on 127.0.0.1:8080 until Ctrl-C
#   PORT=9000 bash scripts/demo.sh  another port
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
source scripts/setup-e2e.sh
port=${PORT:-8080}

npm run --silent package >/dev/null
profile=.e2e/demo
rm -rf "$profile"
mkdir -p "$profile/user/User" "$profile/extensions"
# Without this, code-server asks whether to trust the folder and keeps extensions off until then.
echo '{ "security.workspace.trust.enabled": false, "workbench.startupEditor": "none" }' >"$profile/user/User/settings.json"
code_server=("$E2E_NODE" "$E2E_CODE_SERVER" --user-data-dir "$profile/user" --extensions-dir "$profile/extensions")
"${code_server[@]}" --install-extension perf-sideband-linux-x64.vsix >/dev/null

echo
echo "Open http://127.0.0.1:$port/?folder=$PWD/demo in a browser."
echo "Press F5 to debug the demo: its sideband appears in the Sideband panel (status-only records hollow, real ones filled)."
echo "\"Perf Sideband: Capture Sideband\" in the command palette (F1) attaches to any other process. Ctrl-C here stops."
echo
exec "${code_server[@]}" --auth none --bind-addr "127.0.0.1:$port" --disable-telemetry --disable-update-check "$PWD/demo"
