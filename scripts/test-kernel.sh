#!/usr/bin/env bash
# `npm run test:kernel`: build Debian's Linux 6.1 with native/kernel/*.patch
# (PERF_EVENT_IOC_EMIT_SIDEBAND), boot it under QEMU with the static check
# program of native/tools/kernel_check/, then the benchmark
# bench/status_paths.cc, as its only programs, and exit with the verdict.
# Installs what it needs (apt), caches the source and the build in
# .cache/kernel/ (gitignored), so a rerun only rebuilds what changed.
#
# Environment: KERNEL_CACHE (default .cache/kernel), KERNEL_BOOT_TIMEOUT
# (seconds, default 600), KERNEL_JOBS (default: number of CPUs),
# KERNEL_LOCKDEP=1 (a lockdep kernel too: native/kernel/lockdep.config).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
CACHE=${KERNEL_CACHE:-$ROOT/.cache/kernel}
TIMEOUT=${KERNEL_BOOT_TIMEOUT:-600}
JOBS=${KERNEL_JOBS:-$(nproc)}
PATCHES=$ROOT/native/kernel
TARBALL=/usr/src/linux-source-6.1.tar.xz
SRC=$CACHE/src
fragments=("$PATCHES/kernel.config")
BUILD=$CACHE/build
if [ "${KERNEL_LOCKDEP:-0}" = 1 ]; then
  fragments+=("$PATCHES/lockdep.config")
  BUILD=$CACHE/build-lockdep
fi
LOG=$CACHE/console.log
t0=$(date +%s)

say() { printf 'test-kernel: %s\n' "$*" >&2; }
fail() {
  printf 'test-kernel: FAIL: %s\n' "$*" >&2
  exit 1
}
step() { say "$1 ($(($(date +%s) - t0)) s)"; }

# --- what the build and the boot need ------------------------------------
packages=(linux-source-6.1 qemu-system-x86 make gcc g++ libc6-dev bc flex bison libelf-dev cpio patch xz-utils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
apt_install --no-install-recommends test-kernel ${missing[@]+"${missing[@]}"} || fail "the packages the kernel build needs are missing (see above)."
QBOOT=/usr/share/qemu/qboot.rom
[ -r "$QBOOT" ] || fail "$QBOOT is missing. Fix: \`apt-get install --reinstall qemu-system-data\`."
[ -r "$TARBALL" ] || fail "$TARBALL is missing although linux-source-6.1 is installed. Fix: \`apt-get install --reinstall linux-source-6.1\`."
mkdir -p "$CACHE"

# --- the source: extracted once per version of the patch series ----------
mapfile -t series < <(grep -v '^\s*\(#\|$\)' "$PATCHES/series")
[ ${#series[@]} -gt 0 ] || fail "$PATCHES/series lists no patches."
stamp=$( (sha256sum "$TARBALL" | cut -d' ' -f1; cd "$PATCHES" && cat series "${series[@]}") | sha256sum | cut -d' ' -f1)
if [ "$(cat "$CACHE/src.stamp" 2>/dev/null)" != "$stamp" ] || [ ! -e "$SRC/Makefile" ]; then
  step "extracting $TARBALL"
  rm -rf "$SRC" "$CACHE/src.tmp" "$CACHE/src.stamp"
  mkdir -p "$CACHE/src.tmp"
  tar -xf "$TARBALL" -C "$CACHE/src.tmp"
  mv "$CACHE/src.tmp/linux-source-6.1" "$SRC"
  rmdir "$CACHE/src.tmp"
  for p in "${series[@]}"; do
    say "applying $p"
    patch -d "$SRC" -p1 --quiet --forward <"$PATCHES/$p" ||
      fail "native/kernel/$p does not apply to $(basename "$TARBALL"). Fix: rebase the series on that source (see native/kernel/README.md)."
  done
  # The build directory outlives the source (CI may keep only it). Built
  # from this very series, its objects stay valid: the patched files get
  # the tarball's age back. Else every file a patch touches now, or touched
  # in the series built last, must be newer than its objects.
  files=$(cd "$PATCHES" && sed -n 's|^+++ b/||p' "${series[@]}" | sort -u)
  if [ "$(cat "$BUILD/series.stamp" 2>/dev/null)" = "$stamp" ]; then
    for f in $files; do touch -r "$SRC/Makefile" "$SRC/$f"; done
  else
    for f in $files $(cat "$BUILD/patched-files" 2>/dev/null || true); do
      [ -e "$SRC/$f" ] && touch "$SRC/$f"
    done
  fi
  echo "$stamp" >"$CACHE/src.stamp"
fi

# --- the kernel: tinyconfig plus what the checks need ---------------------
cfg_stamp=$( (cat "${fragments[@]}"; cat "$CACHE/src.stamp") | sha256sum | cut -d' ' -f1)
if [ "$(cat "$BUILD/config.stamp" 2>/dev/null)" != "$cfg_stamp" ] || [ ! -e "$BUILD/.config" ]; then
  step "configuring (tinyconfig + ${fragments[*]#"$ROOT/"})"
  mkdir -p "$BUILD"
  make -s -C "$SRC" O="$BUILD" tinyconfig >/dev/null
  "$SRC/scripts/kconfig/merge_config.sh" -m -O "$BUILD" "$BUILD/.config" "${fragments[@]}" >/dev/null
  make -s -C "$SRC" O="$BUILD" olddefconfig >/dev/null
  while read -r opt; do
    grep -qx "$opt" "$BUILD/.config" ||
      fail "the kernel config did not take $opt (a dependency is missing). Fix: add what it depends on to native/kernel/kernel.config."
  done < <(grep -h '^CONFIG_' "${fragments[@]}")
  echo "$cfg_stamp" >"$BUILD/config.stamp"
fi
step "building the kernel (make -j$JOBS bzImage)"
make -s -C "$SRC" O="$BUILD" -j"$JOBS" bzImage >"$CACHE/build.log" 2>&1 ||
  { tail -30 "$CACHE/build.log" >&2; fail "the kernel build failed; the whole log is $CACHE/build.log."; }
(cd "$PATCHES" && sed -n 's|^+++ b/||p' "${series[@]}" | sort -u) >"$BUILD/patched-files"
cp "$CACHE/src.stamp" "$BUILD/series.stamp"
grep -E 'warning:' "$CACHE/build.log" | grep -F 'kernel/events/' >&2 &&
  fail "the patched perf core builds with warnings (above). Fix: the patch series."

# --- the program: the engine's core, static, with an init ----------------
step "building native/build/kernel-check, status-paths and kernel-init"
make -s -C native static >/dev/null

# The same binary on this machine's kernel, which lacks the ioctl: the
# engine must fall back to /proc, and its records must match /proc.
step "host check: native/build/kernel-check --host (kernel $(uname -r))"
native/build/kernel-check --host >"$CACHE/host.log" 2>&1 || {
  cat "$CACHE/host.log" >&2
  fail "on the host kernel the engine did not fall back to /proc correctly (above)."
}
grep -E '^(PASS|FAIL)' "$CACHE/host.log" | sed 's/^/host: /' >&2

cat >"$CACHE/initramfs.list" <<EOF
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
dir /proc 0555 0 0
dir /sys 0555 0 0
dir /tmp 1777 0 0
file /init $ROOT/native/build/kernel-init 0755 0 0
file /kernel-check $ROOT/native/build/kernel-check 0755 0 0
file /status-paths $ROOT/native/build/status-paths 0755 0 0
EOF
"$BUILD/usr/gen_init_cpio" "$CACHE/initramfs.list" >"$CACHE/initramfs.cpio"

# --- the boot --------------------------------------------------------------
# No ACPI in the kernel (it would add a third to the build): the CPUs come
# from the MP table, and qboot's lists every CPU, where SeaBIOS's lists one.
# Without ACPI there is no HPET, and TCG's TSCs fail the kernel's sync test:
# tsc=reliable, or the perf clock ticks in jiffies (4 ms). Nor has the kernel
# a reference to calibrate the TSC against but the PIT, which TCG on a busy
# host fails: TCG's TSC is the host's, so its rate is given (tsc_early_khz).
tsc_khz=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
cmdline="console=ttyS0 panic=-1 oops=panic tsc=reliable${tsc_khz:+ tsc_early_khz=$tsc_khz}"
boot() {  # boot ACCEL TIMEOUT: the VM's console goes to $LOG (and to stderr)
  timeout -k 10 "$2" qemu-system-x86_64 -accel "$1" -bios "$QBOOT" -m 512 -smp 2 \
    -kernel "$BUILD/arch/x86/boot/bzImage" -initrd "$CACHE/initramfs.cpio" \
    -append "$cmdline" \
    -display none -vga none -monitor none -serial "file:$LOG" -no-reboot </dev/null
}
# KVM only where it proves to work: /dev/kvm can be there and still hang a
# guest or abort QEMU (nested virtualization). The kernel's banner within 20
# seconds is the proof; the answer is kept per host kernel.
accel=tcg
kvm_note=$CACHE/kvm.$(uname -r)
if [ -w /dev/kvm ] && [ "$(cat "$kvm_note" 2>/dev/null)" != broken ]; then
  if [ "$(cat "$kvm_note" 2>/dev/null)" = works ]; then
    accel=kvm
  else
    step "probing KVM"
    : >"$LOG"
    boot kvm 20 >/dev/null 2>&1 || true
    if grep -q '^Linux version' "$LOG"; then accel=kvm; echo works >"$kvm_note"; else echo broken >"$kvm_note"; fi
  fi
fi
step "booting under qemu-system-x86_64 (-accel $accel, -smp 2, timeout ${TIMEOUT} s)"
: >"$LOG"
tail -n +1 -f "$LOG" --pid=$$ >&2 &
tail_pid=$!
set +e
boot "$accel" "$TIMEOUT"
qemu_status=$?
set -e
sleep 0.5
kill "$tail_pid" 2>/dev/null || true
wait "$tail_pid" 2>/dev/null || true
step "qemu exited with status $qemu_status"

[ "$qemu_status" -ne 124 ] && [ "$qemu_status" -ne 137 ] ||
  fail "the VM did not finish within $TIMEOUT s. Fix: raise KERNEL_BOOT_TIMEOUT, or look at $LOG for where it stopped."
if grep -nE 'BUG:|WARNING:|Oops|Call Trace|Kernel panic|possible recursive locking|circular locking|lock held|inconsistent lock' "$LOG" >&2; then
  fail "the kernel reported a problem (above; all of it in $LOG)."
fi
grep -q '^SIDEBAND-KERNEL-VERDICT: PASS' "$LOG" && ! grep -q '^FAIL ' "$LOG" && {
  say "PASS: $(grep -c '^PASS ' "$LOG") checks passed in the kernel, $(grep -c '^PASS ' "$CACHE/host.log") on the host ($(($(date +%s) - t0)) s)"
  exit 0
}
grep -q '^SIDEBAND-KERNEL-VERDICT' "$LOG" ||
  fail "no verdict on the serial console: the kernel or kernel-init died before the checks ended (see $LOG)."
fail "$(grep -c '^FAIL ' "$LOG") checks failed in the kernel (the FAIL lines above; all of it in $LOG)."
