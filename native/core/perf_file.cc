// Writing the capture's perf.data: its start, then its records as they come.
#include "perf_file.h"

#include <fcntl.h>
#include <linux/perf_event.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "abi.h"
#include "capture.h"
#include "errors.h"

namespace sideband {

namespace {

constexpr uint64_t kMagic = 0x32454c4946524550ull;  // "PERFILE2"
constexpr uint64_t kHeaderSize = 104;
constexpr uint64_t kSectionSize = 16;
// PERF_RECORD_EVENT_UPDATE and its NAME kind, perf tool's user records.
constexpr uint32_t kRecordEventUpdate = 78;
constexpr uint64_t kEventUpdateName = 2;
constexpr uint32_t kRecordFinishedRound = 68;
// perf queues records until a FINISHED_ROUND; these bound what it holds at once.
constexpr uint64_t kRoundRecords = 65536;
constexpr uint64_t kRoundBytes = 4 << 20;

const perf_event_header kFinishedRound{kRecordFinishedRound, 0, sizeof(perf_event_header)};

class Bytes {
 public:
  Bytes& u16(uint16_t v) { return raw(&v, sizeof v); }
  Bytes& u32(uint32_t v) { return raw(&v, sizeof v); }
  Bytes& u64(uint64_t v) { return raw(&v, sizeof v); }
  Bytes& section(uint64_t offset, uint64_t size) { return u64(offset).u64(size); }
  Bytes& raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
    return *this;
  }
  Bytes& zeros(size_t n) {
    out_.resize(out_.size() + n);
    return *this;
  }
  Bytes& align8() { return zeros((8 - out_.size() % 8) % 8); }
  size_t size() const { return out_.size(); }
  const std::vector<uint8_t>& result() const { return out_; }

 private:
  std::vector<uint8_t> out_;
};

// The events as the file lists them: the sideband's ids with the ioctl
// event's and the /proc status ids, each once.
std::vector<EventInfo> file_events(const AttachInfo& info) {
  std::vector<EventInfo> events = info.events;
  std::vector<uint64_t>& ids = events.at(0).ids;
  auto add = [&ids](uint64_t id) {
    for (uint64_t known : ids)
      if (known == id) return;
    ids.push_back(id);
  };
  if (info.ioctl_id) add(info.ioctl_id);
  for (uint64_t stale = 0; stale <= kStaleMask; ++stale) add(kProcIdBase | stale);
  return events;
}

void event_name_record(Bytes& out, const EventInfo& event) {
  const size_t padded = (event.name.size() + 1 + 7) / 8 * 8;
  out.u32(kRecordEventUpdate).u16(0).u16(static_cast<uint16_t>(24 + padded));
  out.u64(kEventUpdateName).u64(event.ids.empty() ? 0 : event.ids[0]);
  out.raw(event.name.data(), event.name.size()).zeros(padded - event.name.size());
}

}  // namespace

PerfFile::~PerfFile() { close(); }

void PerfFile::open(const std::string& path, const AttachInfo& info, int fd) {
  path_ = path;
  const std::vector<EventInfo> events = file_events(info);
  const uint64_t attr_bytes = events[0].attr.size();
  uint64_t id_count = 0;
  for (const EventInfo& e : events) {
    if (e.attr.size() != attr_bytes) throw Error("EINTERNAL", "the capture's events have attrs of different sizes: a perf.data file has one attr size");
    id_count += e.ids.size();
  }
  const uint64_t attrs_at = kHeaderSize + id_count * 8;
  const uint64_t attr_size = attr_bytes + kSectionSize;
  const uint64_t data_offset = (attrs_at + events.size() * attr_size + 7) / 8 * 8;

  Bytes start;
  start.u64(kMagic).u64(kHeaderSize).u64(attr_size);
  start.section(attrs_at, events.size() * attr_size).section(data_offset, 0).section(0, 0).zeros(32);
  for (const EventInfo& e : events)
    for (uint64_t id : e.ids) start.u64(id);
  uint64_t id_at = kHeaderSize;
  for (const EventInfo& e : events) {
    start.raw(e.attr.data(), e.attr.size()).section(id_at, e.ids.size() * 8);
    id_at += e.ids.size() * 8;
  }
  start.align8();
  for (const EventInfo& e : events) event_name_record(start, e);

  fd_ = fd >= 0 ? fd : ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    const int err = errno;
    throw Error(err == ENOSPC ? "ENOSPC" : "EOUTPUT",
                "cannot write " + path + ": open: " + strerror(err) + ". Fix: choose a writable path with enough space for the capture.");
  }
  write_all(start.result().data(), start.size());
}

void PerfFile::append(const std::vector<uint8_t>& records) {
  if (fd_ < 0) return;
  // One write per batch, and one more wherever a round fills (every few MiB).
  size_t from = 0;
  for (size_t at = 0; at < records.size();) {
    const uint16_t size = read_header(records.data() + at).size;
    at += size;
    round_bytes_ += size;
    if (++round_records_ >= kRoundRecords || round_bytes_ >= kRoundBytes) {
      write_all(records.data() + from, at - from);
      write_all(reinterpret_cast<const uint8_t*>(&kFinishedRound), sizeof kFinishedRound);
      from = at;
      round_records_ = round_bytes_ = 0;
    }
  }
  if (from < records.size()) write_all(records.data() + from, records.size() - from);
}

void PerfFile::write_all(const uint8_t* bytes, size_t size) {
  const uint64_t before = position_;
  for (size_t done = 0; done < size;) {
    const ssize_t n = pwrite(fd_, bytes + done, size - done, static_cast<off_t>(position_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      // Whole records only: what did not fit goes, so readers end at a record's end.
      (void)!ftruncate(fd_, static_cast<off_t>(before));
      throw Error(err == ENOSPC ? "ENOSPC" : "EIO",
                  err == ENOSPC ? "no space left on " + path_ + " (pwrite): the capture stopped, and the file holds every record up to there. Fix: free space, or capture to another file system."
                                : "cannot write " + path_ + ": pwrite: " + strerror(err) + ". Fix: check the disk and capture to another file.");
    }
    done += static_cast<size_t>(n);
  }
  position_ = before + size;
}

void PerfFile::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace sideband
