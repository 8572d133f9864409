// libFuzzer target: /proc/PID/stat text as parse_stat reads it, for the
// status snapshot and the liveness check. Any bytes parse or are refused
// without reading outside them; and a comm of any bytes a task may take
// (spaces, parentheses, newlines; no NUL, 15 at most) reads back whole.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../core/proc_status.h"

using namespace sideband;

namespace {

[[noreturn]] void broken(const char* what) {
  fprintf(stderr, "proc_stat_fuzz: %s\n", what);
  abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // As the readers leave it: the bytes, then a 0. A copy of its own, so
  // ASan sees a read past them.
  std::string text(reinterpret_cast<const char*>(data), size);
  ProcStat stat;
  if (parse_stat(text.c_str(), size, stat) && (stat.comm < text.c_str() || stat.comm + stat.comm_len > text.c_str() + size))
    broken("a comm outside the text");

  FuzzedDataProvider input(data, size);
  std::string comm = input.ConsumeBytesAsString(input.ConsumeIntegralInRange<size_t>(0, 15));
  for (char& c : comm)
    if (c == 0) c = ' ';
  const std::string line = "4242 (" + comm + ") R 7 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 3 0 99887766 0 0\n";
  if (!parse_stat(line.c_str(), line.size(), stat)) broken("a well-formed stat refused");
  if (std::string(stat.comm, stat.comm_len) != comm || stat.state != 'R' || stat.ppid != 7 || stat.threads != 3 ||
      stat.start_time != 99887766)
    broken("a well-formed stat misread");
  return 0;
}
