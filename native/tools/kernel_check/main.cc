// kernel-check: checks of PERF_EVENT_IOC_EMIT_SIDEBAND through the capture
// engine (native/core), made to run as the only program of a kernel built
// with native/kernel/*.patch (scripts/test-kernel.sh boots it).
//
//   kernel-check           every check; the kernel must have the ioctl
//   kernel-check --host    on a kernel without it: the engine must fall back
//                          to /proc, and its records must match /proc
//
// Prints one "PASS name: ..." or "FAIL name: ..." line per check, then a
// summary; exits 0 only if every check ran and passed. Every verdict comes
// from what the kernel and the engine did in this run.
#include <signal.h>

#include <cstdio>
#include <cstring>

#include "checks.h"
#include "harness.h"
#include "target.h"

using namespace sideband::kernel_check;

int main(int argc, char** argv) {
  if (is_target(argc, argv)) return run_target(argc, argv);
  const bool host = argc >= 2 && !strcmp(argv[1], "--host");
  if (argc >= 2 && !host) {
    fprintf(stderr, "usage: kernel-check [--host]\n");
    return 2;
  }
  setvbuf(stdout, nullptr, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  write_target_files();

  if (host) {
    // A kernel without the RFC: the same engine must take /proc, and say so.
    check_capture(false);
  } else {
    check_raw_ioctl();
    check_capture(true);
    check_overflow();
  }
  const int expected = host ? 8 : 20;
  const Tally t = tally();
  const bool all = t.failed == 0 && t.passed == expected;
  printf("kernel-check: %d passed, %d failed, %d expected: %s\n", t.passed, t.failed, expected, all ? "PASS" : "FAIL");
  return all ? 0 : 1;
}
