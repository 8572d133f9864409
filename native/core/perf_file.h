// The capture's perf.data file, written by the core as records leave the
// ordering queue: no front end copies records on their way to disk.
//
// The layout is perf's, as node/perfdata/writer.ts writes it: the header
// (data.size 0, perf's own mark of a file still being written), the ids of
// every event, the attrs, one EVENT_UPDATE naming each event (so a reader
// that follows the unfinished file knows which event is which), then the
// records in time order, a FINISHED_ROUND every few MiB. The front end
// finishes the file once the capture has stopped (features, metadata, the
// final header: finishPerfDataFile in node/perfdata/writer.ts), so an
// interrupted capture leaves an unfinished file that readers still read to
// its last whole record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sideband {

struct AttachInfo;

class PerfFile {
 public:
  PerfFile() = default;
  PerfFile(const PerfFile&) = delete;
  PerfFile& operator=(const PerfFile&) = delete;
  ~PerfFile();

  // Creates (or truncates) `path`, or takes `fd`, already open on an empty
  // file of that path, and writes everything before the records.
  // The sideband event's ids also list the ioctl event's and those of /proc
  // status records, so perf knows the event of every record.
  // Throws an Error naming the path, the cause and the fix.
  void open(const std::string& path, const AttachInfo& info, int fd = -1);
  bool is_open() const { return fd_ >= 0; }

  // Appends whole records in perf's layout; throws an Error (ENOSPC: "no
  // space left on <path>") when the disk refuses them, having written what
  // fits of whole records.
  void append(const std::vector<uint8_t>& records);

  // File offset of the byte after the last record written.
  uint64_t data_end() const { return position_; }
  void close();

 private:
  void write_all(const uint8_t* bytes, size_t size);

  std::string path_;
  int fd_ = -1;
  uint64_t position_ = 0;
  uint64_t round_records_ = 0, round_bytes_ = 0;
};

}  // namespace sideband
