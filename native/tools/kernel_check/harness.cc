// kernel-check's harness: verdicts, their tally, and setup failures.
#include "harness.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace sideband::kernel_check {

namespace {
int passed = 0, failed = 0;
}  // namespace

void verdict(bool ok, const char* name, const char* fmt, ...) {
  char detail[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  printf("%s %s: %s\n", ok ? "PASS" : "FAIL", name, detail);
  fflush(stdout);
  (ok ? passed : failed)++;
}

void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stdout, "FAIL setup: ");
  vfprintf(stdout, fmt, ap);
  fprintf(stdout, "\n");
  va_end(ap);
  fflush(stdout);
  exit(1);
}

Tally tally() { return {passed, failed}; }

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : "; ") + x;
  return s;
}

}  // namespace sideband::kernel_check
