// One perf ring buffer, mapped read-write so the kernel sees our tail and
// can account overruns as PERF_RECORD_LOST instead of overwriting.
#pragma once

#include <linux/perf_event.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace sideband {

// Where a record should begin but no record can: its header claims a size
// that is not 8-aligned, is below a header, or runs past what the kernel
// wrote. Record sizes are the only framing a ring has, so nothing after it
// up to the head can be parsed: those bytes are dropped.
struct RingFault {
  uint64_t offset;   // of the bad header, in the ring's stream
  uint16_t size;     // what it claimed
  uint64_t dropped;  // bytes from it to the head
};

class Ring {
 public:
  // Maps `data_pages` (a power of two) plus the control page of `fd`.
  // Throws SystemError (errno kept) when the kernel refuses, e.g. the mlock budget.
  Ring(int fd, size_t data_pages);
  // Reads a ring the caller has laid out and owns: a control page, then
  // `data_pages` of data, as the kernel maps them. For tests of the reader.
  Ring(void* memory, size_t data_pages);
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // Calls visit(record, size) for every whole record between tail and the
  // head as read once (acquire), then publishes the new tail (release).
  // A record that wraps the ring's end is handed over as one contiguous copy.
  // A bad record size calls fault(RingFault) and skips to the head, where
  // the kernel's next record begins: the ring goes on.
  template <typename Visit, typename Fault>
  size_t drain(Visit&& visit, Fault&& fault);

  int fd() const { return fd_; }

 private:
  uint64_t load_head() const;
  void store_tail(uint64_t tail);

  int fd_;
  perf_event_mmap_page* page_ = nullptr;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t map_bytes_ = 0;
  std::vector<uint8_t> wrapped_;  // scratch for records that wrap the end
};

template <typename Visit, typename Fault>
size_t Ring::drain(Visit&& visit, Fault&& fault) {
  const uint64_t head = load_head();
  uint64_t tail = page_->data_tail;  // only we write it
  size_t records = 0;
  const uint64_t mask = size_ - 1;
  while (head - tail >= 8) {
    const size_t at = tail & mask;
    const uint8_t* rec = data_ + at;
    // The 8-byte header never straddles the end: records are 8-byte aligned
    // (a size that is not would misalign every header after it).
    const uint16_t size = static_cast<uint16_t>(rec[6] | (rec[7] << 8));
    // The kernel publishes the head only after whole records, so a record
    // past it, or larger than the ring, is no torn header but a bad one.
    if (size < 8 || size % 8 != 0 || size > head - tail || size > size_) {
      fault(RingFault{tail, size, head - tail});
      tail = head;
      break;
    }
    if (at + size > size_) {
      wrapped_.resize(size);
      const size_t first = size_ - at;
      memcpy(wrapped_.data(), rec, first);
      memcpy(wrapped_.data() + first, data_, size - first);
      rec = wrapped_.data();
    }
    visit(rec, size);
    tail += size;
    ++records;
  }
  store_tail(tail);
  return records;
}

}  // namespace sideband
