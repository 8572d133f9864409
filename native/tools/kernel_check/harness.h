// kernel-check's harness: one PASS or FAIL line per check, counted for the
// summary, and a setup failure that ends the program.
#pragma once

#include <string>
#include <vector>

namespace sideband::kernel_check {

// Prints "PASS name: detail" or "FAIL name: detail" and counts it.
void verdict(bool ok, const char* name, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

// Prints "FAIL setup: ..." and exits 1: nothing after it could be checked.
[[noreturn]] void die(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

struct Tally {
  int passed, failed;
};
Tally tally();

// A verdict's list of problems, "; " between them.
std::string join(const std::vector<std::string>& v);

}  // namespace sideband::kernel_check
