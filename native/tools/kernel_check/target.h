// The target: the process whose status is asked for. It is this program
// again, exec'ed with --target, so it is single-threaded and clean when it
// sets itself up; it talks over its stdin (commands) and stdout (lines).
#pragma once

#include <sys/types.h>

#include <cstdio>
#include <string>
#include <vector>

namespace sideband::kernel_check {

// Files the "status" target maps: before the attach, after it, and as data.
constexpr const char* kBefore = "/tmp/sb-before.bin";
constexpr const char* kAfter = "/tmp/sb-after.bin";
constexpr const char* kData = "/tmp/sb-data.bin";

// Writes those files; once, before the first "status" target starts.
void write_target_files();

// The target's side, when argv is "--target MODE [COUNT [THREADS]]".
// Modes: "status": threads, files mapped, its own UTS namespace; on "go" it
// forks, renames itself and maps another file, so real records follow the
// status ones. "many N T": N separate executable mappings and T threads,
// for bursts; "busy N T" as many, with threads that keep renaming themselves.
bool is_target(int argc, char** argv);
int run_target(int argc, char** argv);

// The checks' side: starts a target with `args` (MODE and its numbers).
struct Target {
  pid_t pid = -1;
  FILE* in = nullptr;   // its stdin
  FILE* out = nullptr;  // its stdout

  explicit Target(const std::vector<std::string>& args);
  ~Target();
  // The next line that starts with `prefix`, or "" at EOF.
  std::string expect(const char* prefix);
  void send(const char* cmd);
};

}  // namespace sideband::kernel_check
