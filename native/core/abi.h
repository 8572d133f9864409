// Kernel ABI that the build headers (Debian's linux-libc-dev, 6.1) may lack,
// and what the ids of our status records say. Records keep perf's binary
// layout from ring to file to JavaScript: where their fields are is
// record_layout.h, included here since everything that uses this reads or
// writes records.
#pragma once

#include <linux/perf_event.h>
#include <sys/ioctl.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "record_layout.h"

namespace sideband {

// From the RFC: misc bit for status-only sideband.
constexpr uint16_t kMiscStatusOnly = 1u << 11;

// From the RFC: PERF_EVENT_IOC_EMIT_SIDEBAND and its argument.
struct PerfEventPidSb {
  uint32_t pid;
  uint32_t emit_flags;
};
enum EmitFlag : uint32_t {
  kEmitFork = 1u << 0,
  kEmitNamespaces = 1u << 1,
  kEmitComm = 1u << 2,
  kEmitMmap = 1u << 3,
};
// _IOW('$', 12, struct perf_event_pid_sb *): the size field is that of a pointer.
constexpr unsigned long kIocEmitSideband = _IOW('$', 12, PerfEventPidSb*);
static_assert(sizeof(void*) != 8 || kIocEmitSideband == 0x4008240C, "ioctl number drifted from the RFC");

// PROCMAP_QUERY, Linux 6.11+ (include/uapi/linux/fs.h).
struct ProcmapQuery {
  uint64_t size;
  uint64_t query_flags;
  uint64_t query_addr;
  uint64_t vma_start;
  uint64_t vma_end;
  uint64_t vma_flags;
  uint64_t vma_page_size;
  uint64_t vma_offset;
  uint64_t inode;
  uint32_t dev_major;
  uint32_t dev_minor;
  uint32_t vma_name_size;
  uint32_t build_id_size;
  uint64_t vma_name_addr;
  uint64_t build_id_addr;
};
enum ProcmapQueryFlag : uint64_t {
  kVmaReadable = 0x01,
  kVmaWritable = 0x02,
  kVmaExecutable = 0x04,
  kVmaShared = 0x08,
  kCoveringOrNextVma = 0x10,
};
constexpr unsigned long kProcmapQuery = _IOWR('f', 17, ProcmapQuery);

// perf tool's user record type (tools/perf/util/event.h) that follows the
// first snapshot: readers know the initial state is complete.
constexpr uint32_t kRecordFinishedInit = 82;

// Status-only records synthesized from /proc carry one of these ids in their
// IDENTIFIER, so provenance and staleness travel inside the record itself and
// survive into perf.data (where the file's attr lists them as ids of the
// sideband event). The low bits say why a record may be stale.
constexpr uint64_t kProcIdBase = 0x5342'5052'4f43'0000ull;  // "SBPROC"
enum StaleReason : uint64_t {
  kStaleRace = 1,      // a real record of the process landed inside the read window
  kStaleVanished = 2,  // a thread, or the process, vanished mid-scan
  kStaleZombie = 4,    // a zombie's maps read empty
};
constexpr uint64_t kStaleMask = 7;
inline bool is_proc_id(uint64_t id) { return (id & ~kStaleMask) == kProcIdBase; }

// Calls f(record, size) for each record of `bytes`, all of which carry a
// trailer. A size that cannot be (too small for the trailer, or past the
// end) would desynchronise the walk, or stop it with a size of 0: refused.
template <typename F>
void for_each_record(uint8_t* bytes, size_t length, F f) {
  for (size_t at = 0; at < length;) {
    const perf_event_header h = length - at < sizeof h ? perf_event_header{} : read_header(bytes + at);
    if (h.size < sizeof h + kTrailerSize || h.size > length - at)
      throw std::length_error("a record at byte " + std::to_string(at) + " claims " + std::to_string(h.size) +
                              " bytes of the " + std::to_string(length - at) + " left");
    f(bytes + at, h.size);
    at += h.size;
  }
}

}  // namespace sideband
