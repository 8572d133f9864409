// Record layout: where each record type keeps the pid, tid, time and id of
// what it is about, in its body and in the sample_id trailer its event's
// attr adds. The one place C++ says where those fields are.
//
// Every event of ours has sample_id_all and
//   sample_type = TID | TIME | CPU | IDENTIFIER (| RAW, the tracepoints'),
// so a non-sample record's trailer is always the last 32 bytes, in the
// kernel's order:
//   u32 pid, tid; u64 time; u32 cpu, res; u64 id.
// Reading it is one copy into SampleId. A SAMPLE (the syscall tracepoints')
// has no trailer: the same fields lead its body, in the sample's order. A body's own pid and tid, where its type has them,
// name the task the record is about (a FORK's child, not its parent).
#pragma once

#include <linux/perf_event.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sideband {

// ------------------------------------------------------ the sample_id trailer

// The sample_id trailer every record of ours carries.
constexpr uint64_t kSampleType = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU | PERF_SAMPLE_IDENTIFIER;
struct SampleId {
  uint32_t pid, tid;
  uint64_t time;
  uint32_t cpu, res;
  uint64_t id;
};
static_assert(sizeof(SampleId) == 32);
constexpr size_t kTrailerSize = sizeof(SampleId);

// Where an attr's sample_id_all puts each field, in bytes back from the
// record's end (0: that sample_type has none). Computed from the bits, as
// linux-perf-event-reader's parse_info does, so SampleId is proved to be
// kSampleType's trailer rather than assumed to be.
struct SampleIdLayout {
  uint16_t size;
  uint16_t pid, tid, time, cpu, id;
};

constexpr SampleIdLayout sample_id_layout(uint64_t sample_type) {
  // Offsets from the trailer's start (-1: absent), in the kernel's order
  // (perf_event__output_id_sample): TID, TIME, ID, STREAM_ID, CPU,
  // IDENTIFIER, 8 bytes each; the id is IDENTIFIER's where both are set.
  int at = 0, pid = -1, time = -1, id = -1, cpu = -1;
  if (sample_type & PERF_SAMPLE_TID) pid = at, at += 8;
  if (sample_type & PERF_SAMPLE_TIME) time = at, at += 8;
  if (sample_type & PERF_SAMPLE_ID) id = at, at += 8;
  if (sample_type & PERF_SAMPLE_STREAM_ID) at += 8;
  if (sample_type & PERF_SAMPLE_CPU) cpu = at, at += 8;
  if (sample_type & PERF_SAMPLE_IDENTIFIER) id = at, at += 8;
  auto back = [at](int from_start) { return static_cast<uint16_t>(from_start < 0 ? 0 : at - from_start); };
  return {static_cast<uint16_t>(at), back(pid), back(pid < 0 ? -1 : pid + 4), back(time), back(cpu), back(id)};
}

constexpr SampleIdLayout kSampleIdLayout = sample_id_layout(kSampleType);
static_assert(kSampleIdLayout.size == kTrailerSize);
static_assert(kSampleIdLayout.pid == kTrailerSize - offsetof(SampleId, pid));
static_assert(kSampleIdLayout.tid == kTrailerSize - offsetof(SampleId, tid));
static_assert(kSampleIdLayout.time == kTrailerSize - offsetof(SampleId, time));
static_assert(kSampleIdLayout.cpu == kTrailerSize - offsetof(SampleId, cpu));
static_assert(kSampleIdLayout.id == kTrailerSize - offsetof(SampleId, id));

inline SampleId read_trailer(const uint8_t* record, uint16_t size) {
  SampleId s;
  memcpy(&s, record + size - kTrailerSize, sizeof s);
  return s;
}
inline void write_trailer_id(uint8_t* record, uint16_t size, uint64_t id) {
  memcpy(record + size - kSampleIdLayout.id, &id, sizeof id);
}

// Where a SAMPLE keeps the same fields, in bytes from the record's start,
// in the kernel's order (perf_output_sample): IDENTIFIER, IP, TID, TIME,
// ADDR, ID, STREAM_ID, CPU, 8 bytes each, after the 8-byte header.
constexpr SampleIdLayout sample_layout(uint64_t sample_type) {
  int at = 8, pid = 0, time = 0, id = 0, cpu = 0;
  if (sample_type & PERF_SAMPLE_IDENTIFIER) id = at, at += 8;
  if (sample_type & PERF_SAMPLE_IP) at += 8;
  if (sample_type & PERF_SAMPLE_TID) pid = at, at += 8;
  if (sample_type & PERF_SAMPLE_TIME) time = at, at += 8;
  if (sample_type & PERF_SAMPLE_ADDR) at += 8;
  if (sample_type & PERF_SAMPLE_ID) id = id ? id : at, at += 8;
  if (sample_type & PERF_SAMPLE_STREAM_ID) at += 8;
  if (sample_type & PERF_SAMPLE_CPU) cpu = at, at += 8;
  return {static_cast<uint16_t>(at), static_cast<uint16_t>(pid), static_cast<uint16_t>(pid ? pid + 4 : 0),
          static_cast<uint16_t>(time), static_cast<uint16_t>(cpu), static_cast<uint16_t>(id)};
}
constexpr SampleIdLayout kSampleLayout = sample_layout(kSampleType);
static_assert(kSampleLayout.size == sizeof(perf_event_header) + kTrailerSize);

// The pid, tid, time, cpu and id of any kernel record of ours: a SAMPLE's
// from its body, any other's from its trailer.
inline SampleId sample_id_of(const uint8_t* record, uint16_t size) {
  perf_event_header h;
  memcpy(&h, record, sizeof h);
  if (h.type != PERF_RECORD_SAMPLE) return read_trailer(record, size);
  SampleId s{};
  memcpy(&s.pid, record + kSampleLayout.pid, 4);
  memcpy(&s.tid, record + kSampleLayout.tid, 4);
  memcpy(&s.time, record + kSampleLayout.time, 8);
  memcpy(&s.cpu, record + kSampleLayout.cpu, 4);
  memcpy(&s.id, record + kSampleLayout.id, 8);
  return s;
}

// ------------------------------------------------------------ record bodies

inline perf_event_header read_header(const uint8_t* record) {
  perf_event_header h;
  memcpy(&h, record, sizeof h);
  return h;
}

// One field of a record, `at` bytes from its start.
template <typename T>
T read_field(const uint8_t* record, size_t at) {
  T v;
  memcpy(&v, record + at, sizeof v);
  return v;
}

// Where a record type's body keeps its fields, in bytes from the record's
// start (the header is 8 bytes, so 0 says the type has no such field).
struct BodyLayout {
  uint16_t pid, tid;    // u32: the task the record is about
  uint16_t ppid, ptid;  // u32, FORK and EXIT: its parent (a thread's is its own group)
  uint16_t lost;        // u64, LOST: how many records the ring could not hold
};

constexpr BodyLayout body_layout(uint32_t type) {
  switch (type) {
    case PERF_RECORD_MMAP:
    case PERF_RECORD_COMM:
    case PERF_RECORD_MMAP2:
    case PERF_RECORD_NAMESPACES: return {8, 12, 0, 0, 0};
    case PERF_RECORD_FORK:
    case PERF_RECORD_EXIT: return {8, 16, 12, 20, 0};
    case PERF_RECORD_LOST: return {0, 0, 0, 0, 16};  // after the id of the event that lost them
  }
  return {};
}

// The task a kernel record (type below 64) is about: its body's pid and tid
// where its type has them, else its sample_id's.
struct RecordTask {
  uint32_t pid, tid;
};

inline RecordTask record_task(const uint8_t* record, uint16_t size) {
  const BodyLayout body = body_layout(read_header(record).type);
  if (body.pid) return {read_field<uint32_t>(record, body.pid), read_field<uint32_t>(record, body.tid)};
  const SampleId s = sample_id_of(record, size);
  return {s.pid, s.tid};
}

}  // namespace sideband
