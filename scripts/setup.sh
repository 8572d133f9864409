# Everything the project needs on a fresh machine, installed by the project:
# sourced by scripts/demo.sh and scripts/test.sh. Idempotent and quick when
# all is there already.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need_apt=()
command -v perf >/dev/null || need_apt+=(linux-perf)          # the independent oracle for tests and bench
command -v gcc >/dev/null || need_apt+=(gcc)                  # C fixtures and the addon
command -v g++ >/dev/null || need_apt+=(g++)
command -v make >/dev/null || need_apt+=(make)
command -v python3 >/dev/null || need_apt+=(python3)          # node-gyp
command -v setpriv >/dev/null || need_apt+=(util-linux)       # unprivileged error-path tests
command -v strace >/dev/null || need_apt+=(strace)            # the order of a launch's signal calls
command -v file >/dev/null || need_apt+=(file)
command -v objdump >/dev/null || need_apt+=(binutils)    # the addons' version needs, against VS Code's floor
command -v chromium >/dev/null || need_apt+=(chromium)        # the webview's tests and bench, headless
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need_apt+=(libc6-dev)  # the static core program
[ -e /usr/include/elfutils/libdwfl.h ] || need_apt+=(libdw-dev)    # the symbols addon, linked to libdw.so.1
command -v llvm-symbolizer >/dev/null || need_apt+=(llvm)      # the oracle and fallback for symbols
dpkg-query -W -f '${Status}' libc6-dbg 2>/dev/null | grep -q ' installed' || need_apt+=(libc6-dbg)  # libc's DWARF: tests, bench
source scripts/apt.sh
apt_install setup ${need_apt[@]+"${need_apt[@]}"}

# Dependencies, and the native helper built by the package's prepare script
# (npm ci runs it; installing the packed command line does not, as that
# ships the helper built).
# The rest is built by what runs next: npm test and npm run package both
# start with npm run build.
if [ ! -e node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
