// libFuzzer target: /proc/PID/maps text as append_maps_text turns it into
// MMAP2 status records. Any bytes give whole records: each one framed so a
// walk of the stream finds the next, with its name NUL-terminated inside it.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../core/abi.h"
#include "../core/proc_status.h"
#include "../core/record_layout.h"

using namespace sideband;

namespace {

[[noreturn]] void broken(const char* what) {
  fprintf(stderr, "proc_maps_fuzz: %s\n", what);
  abort();
}

// Where an MMAP2 record's filename begins: after pid, tid, addr, len, pgoff,
// maj, min, ino, ino_generation, prot, flags.
constexpr size_t kMmap2Name = sizeof(perf_event_header) + 64;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // As read_maps_text leaves it: the bytes, then a 0, in a buffer of their own.
  std::vector<char> text(data, data + size);
  text.push_back(0);
  std::vector<uint8_t> out;
  const size_t count = append_maps_text(text.data(), size, 1, 2, 3, out);
  size_t walked = 0;
  // for_each_record throws where a size would not lead to the next record.
  for_each_record(out.data(), out.size(), [&](uint8_t* rec, uint16_t rec_size) {
    ++walked;
    if (read_header(rec).type != PERF_RECORD_MMAP2) broken("not an MMAP2");
    if (rec_size < kMmap2Name + kTrailerSize + 1 || !memchr(rec + kMmap2Name, 0, rec_size - kMmap2Name - kTrailerSize))
      broken("a name not NUL-terminated inside its record");
  });
  if (walked != count) broken("a count not the records appended");
  return 0;
}
