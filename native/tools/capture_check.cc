// capture-check: checks of the capture core's own resources, with no Node:
// the ring reader against corrupt rings laid out in memory, and a Capture
// that must give back every fd and mapping, start and stop its launched
// command cleanly, on its normal path and on forced error paths.
//
//   capture-check NAME     runs the check NAME (run it without one for the list)
//
// Prints one "PASS name: ..." or "FAIL name: ..." line per verdict; exits 0
// only if every verdict passed. test/kernel/capture-check.test.ts runs each.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <vector>

#include "../core/ring.h"

using namespace sideband;

namespace {

int failures = 0;

void verdict(bool ok, const char* name, const char* fmt, ...) {
  char detail[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  printf("%s %s: %s\n", ok ? "PASS" : "FAIL", name, detail);
  fflush(stdout);
  if (!ok) ++failures;
}

// ------------------------------------------------------------ the ring reader

// A ring in plain memory, laid out as the kernel maps one: a control page,
// then the data pages. Records are written at the head, as the kernel does.
struct FakeRing {
  static constexpr size_t kDataPages = 1;
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* memory = mmap(nullptr, (kDataPages + 1) * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  uint64_t head = 0;

  ~FakeRing() { munmap(memory, (kDataPages + 1) * page); }
  perf_event_mmap_page* control() { return static_cast<perf_event_mmap_page*>(memory); }
  uint8_t* data() { return static_cast<uint8_t*>(memory) + page; }

  // Writes `bytes` at the head (wrapping) and publishes the new head.
  void write(const std::vector<uint8_t>& bytes) {
    const size_t size = kDataPages * page;
    for (size_t i = 0; i < bytes.size(); ++i) data()[(head + i) % size] = bytes[i];
    head += bytes.size();
    __atomic_store_n(&control()->data_head, head, __ATOMIC_RELEASE);
  }
  // A COMM record of `size` bytes (a multiple of 8, at least 56) naming `tag`.
  static std::vector<uint8_t> comm(uint16_t size, uint32_t tag) {
    std::vector<uint8_t> r(size, 0);
    const perf_event_header h{PERF_RECORD_COMM, 0, size};
    memcpy(r.data(), &h, sizeof h);
    memcpy(r.data() + sizeof h, &tag, sizeof tag);
    return r;
  }
  // A header claiming `claimed` bytes, in a record that really has `size`.
  static std::vector<uint8_t> bad(uint16_t claimed, size_t size) {
    std::vector<uint8_t> r(size, 0xee);
    const perf_event_header h{PERF_RECORD_COMM, 0, claimed};
    memcpy(r.data(), &h, sizeof h);
    return r;
  }
};

uint32_t tag_of(const uint8_t* rec) {
  uint32_t tag;
  memcpy(&tag, rec + sizeof(perf_event_header), sizeof tag);
  return tag;
}

// A record whose size cannot be (too small, not 8-aligned, past the head,
// larger than the ring) must not stop the ring for good: what cannot be
// parsed up to the head is dropped and reported, and the records the
// kernel writes after it are read.
void check_ring_bad_size() {
  struct Case {
    const char* what;
    uint16_t claimed;
  };
  const Case cases[] = {{"size 0", 0}, {"size 4, below a header", 4}, {"size 60, not 8-aligned", 60},
                        {"size 4096 past the head", 4096}, {"size 65528, larger than the ring", 65528}};
  for (const Case& c : cases) {
    FakeRing ring;
    Ring reader(ring.memory, FakeRing::kDataPages);
    ring.write(FakeRing::comm(64, 1));
    ring.write(FakeRing::bad(c.claimed, 128));
    ring.write(FakeRing::comm(64, 2));
    std::vector<uint32_t> seen;
    std::vector<RingFault> faults;
    auto visit = [&](const uint8_t* rec, uint16_t) { seen.push_back(tag_of(rec)); };
    auto fault = [&](const RingFault& f) { faults.push_back(f); };
    reader.drain(visit, fault);
    const bool reported = faults.size() == 1 && faults[0].offset == 64 && faults[0].size == c.claimed &&
                          faults[0].dropped == 128 + 64;
    verdict(seen == std::vector<uint32_t>{1} && reported, "ring-bad-size reported",
            "%s: records before it read (%zu), %zu fault(s) reported, offset %llu, size %u, %llu bytes dropped",
            c.what, seen.size(), faults.size(), faults.empty() ? 0ull : (unsigned long long)faults[0].offset,
            faults.empty() ? 0u : faults[0].size, faults.empty() ? 0ull : (unsigned long long)faults[0].dropped);
    // What the kernel writes next is read, and nothing more is dropped.
    seen.clear();
    faults.clear();
    ring.write(FakeRing::comm(56, 3));
    reader.drain(visit, fault);
    verdict(seen == std::vector<uint32_t>{3} && faults.empty() && ring.control()->data_tail == ring.head,
            "ring-bad-size recovers", "%s: %zu record(s) read after it (want the next one), tail %llu of head %llu",
            c.what, seen.size(), (unsigned long long)ring.control()->data_tail, (unsigned long long)ring.head);
  }
  // A good record that wraps the ring's end is still read whole.
  FakeRing ring;
  Ring reader(ring.memory, FakeRing::kDataPages);
  ring.write(FakeRing::comm(static_cast<uint16_t>(ring.page - 32), 1));
  std::vector<uint32_t> seen;
  auto visit = [&](const uint8_t* rec, uint16_t) { seen.push_back(tag_of(rec)); };
  size_t faults = 0;
  reader.drain(visit, [&](const RingFault&) { ++faults; });
  ring.write(FakeRing::comm(64, 2));
  reader.drain(visit, [&](const RingFault&) { ++faults; });
  verdict(seen == std::vector<uint32_t>{1, 2} && faults == 0, "ring-wrap", "%zu records read across the end, %zu faults",
          seen.size(), faults);
}

struct Check {
  const char* name;
  void (*run)();
};
const Check kChecks[] = {
    {"ring-bad-size", check_ring_bad_size},
};

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  for (const Check& c : kChecks) {
    if (argc == 2 && !strcmp(argv[1], c.name)) {
      c.run();
      return failures ? 1 : 0;
    }
  }
  fprintf(stderr, "usage: capture-check NAME, one of:");
  for (const Check& c : kChecks) fprintf(stderr, " %s", c.name);
  fprintf(stderr, "\n");
  return 2;
}
