// libFuzzer target: /proc/PID/maps text as append_maps_text turns it into
// MMAP2 status records. Any bytes give whole records: each one framed so a
// walk of the stream finds the next, with its name NUL-terminated inside it.
// And a line as the kernel writes it, of fields the fuzzer picks (a name of
// any bytes, spaces and escaped newlines too), reads back as those fields.
#include <fuzzer/FuzzedDataProvider.h>
#include <sys/mman.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
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

  FuzzedDataProvider input(data, size);
  const uint64_t start = input.ConsumeIntegral<uint64_t>() & ~uint64_t{0xfff};
  const uint64_t end = start + (uint64_t{input.ConsumeIntegralInRange<uint32_t>(1, 1 << 20)} << 12);
  const bool readable = input.ConsumeBool(), writable = input.ConsumeBool(), shared = input.ConsumeBool();
  const uint64_t pgoff = input.ConsumeIntegral<uint64_t>(), ino = input.ConsumeIntegral<uint64_t>();
  const uint32_t maj = input.ConsumeIntegralInRange<uint32_t>(0, 0xfff), min = input.ConsumeIntegralInRange<uint32_t>(0, 0xfffff);
  // A path: '/' first, as the kernel's are; a newline in it is written "\012" (seq_path),
  // and a backslash as itself, which the text cannot tell from one (see decode_maps_name).
  std::string name = "/" + input.ConsumeRandomLengthString(256);
  std::string escaped;
  for (char& c : name) {
    if (c == 0 || c == '\\') c = '_';
    escaped += c == '\n' ? std::string("\\012") : std::string(1, c);
  }
  char head[160];
  snprintf(head, sizeof head, "%08" PRIx64 "-%08" PRIx64 " %c%cx%c %08" PRIx64 " %02x:%02x %" PRIu64 "    ", start, end,
           readable ? 'r' : '-', writable ? 'w' : '-', shared ? 's' : 'p', pgoff, maj, min, ino);
  // Then a line whose permissions are cut short, which is no executable mapping.
  std::string line = head + escaped + "\n" + "1000-2000 r 00000000 00:00 0 /short\n";
  out.clear();
  if (append_maps_text(line.data(), line.size(), 1, 2, 3, out) != 1) broken("not one record for one executable line");
  const uint8_t* rec = out.data();
  const uint32_t prot = (readable ? PROT_READ : 0) | (writable ? PROT_WRITE : 0) | PROT_EXEC;
  if (read_field<uint64_t>(rec, 16) != start || read_field<uint64_t>(rec, 24) != end - start || read_field<uint64_t>(rec, 32) != pgoff ||
      read_field<uint32_t>(rec, 40) != maj || read_field<uint32_t>(rec, 44) != min || read_field<uint64_t>(rec, 48) != ino ||
      read_field<uint32_t>(rec, 64) != prot || read_field<uint32_t>(rec, 68) != static_cast<uint32_t>(shared ? MAP_SHARED : MAP_PRIVATE))
    broken("a line's fields misread");
  if (strcmp(reinterpret_cast<const char*>(rec + kMmap2Name), name.c_str()) != 0) broken("a line's name misread");
  return 0;
}
