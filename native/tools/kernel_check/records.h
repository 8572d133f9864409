// kernel-check's records: a stream of them split into whole records, each
// with its trailer read, so that checks can say which field was wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../../core/abi.h"

namespace sideband::kernel_check {

// One record, copied, with its trailer read if it is a kernel record (type
// below 64; the user types, such as FINISHED_INIT, have none).
struct Rec {
  uint32_t type;
  uint16_t misc;
  std::vector<uint8_t> bytes;
  SampleId s;
  uint32_t u32(size_t at) const { return read_field<uint32_t>(bytes.data(), at); }
  uint64_t u64(size_t at) const { return read_field<uint64_t>(bytes.data(), at); }
  bool status() const { return misc & kMiscStatusOnly; }
  // Of a kernel record (type below 64): see record_layout.h.
  uint32_t pid() const { return record_task(bytes.data(), static_cast<uint16_t>(bytes.size())).pid; }
  uint32_t tid() const { return record_task(bytes.data(), static_cast<uint16_t>(bytes.size())).tid; }
  uint32_t ppid() const { return u32(body_layout(type).ppid); }
  uint32_t ptid() const { return u32(body_layout(type).ptid); }
  uint64_t lost() const { return u64(body_layout(type).lost); }
  std::string str(size_t at) const {
    const size_t end = bytes.size() - kTrailerSize;
    return std::string(reinterpret_cast<const char*>(bytes.data() + at), strnlen(reinterpret_cast<const char*>(bytes.data() + at), end - at));
  }
};

// Splits a stream of records; false if any record is malformed.
bool parse(const std::vector<uint8_t>& buf, std::vector<Rec>& out, std::string* why = nullptr);

}  // namespace sideband::kernel_check
