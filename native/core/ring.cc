// Reading one perf ring: records from tail to head, across the wrap (see ring.h).
#include "ring.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "errors.h"

namespace sideband {

Ring::Ring(int fd, size_t data_pages) : fd_(fd) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_ = data_pages * page;
  map_bytes_ = size_ + page;
  void* map = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) throw SystemError("mmap of the perf ring", errno);
  page_ = static_cast<perf_event_mmap_page*>(map);
  data_ = static_cast<uint8_t*>(map) + page;
}

Ring::Ring(void* memory, size_t data_pages) : fd_(-1) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_ = data_pages * page;
  page_ = static_cast<perf_event_mmap_page*>(memory);
  data_ = static_cast<uint8_t*>(memory) + page;
}

Ring::~Ring() {
  if (map_bytes_) munmap(page_, map_bytes_);
}

uint64_t Ring::load_head() const {
  return __atomic_load_n(&page_->data_head, __ATOMIC_ACQUIRE);
}

void Ring::store_tail(uint64_t tail) {
  __atomic_store_n(&page_->data_tail, tail, __ATOMIC_RELEASE);
}

}  // namespace sideband
