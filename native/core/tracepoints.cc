// The syscall tracepoints of region changes: ids from tracefs, and attrs.
#include "tracepoints.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "record_layout.h"

namespace sideband {

namespace {

constexpr const char* kSyscalls[] = {"munmap", "mremap", "mprotect", "brk"};
// Where tracefs is mounted: its own mount since 4.1, else inside debugfs.
constexpr const char* kTracefs[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};

}  // namespace

std::vector<Tracepoint> region_tracepoints(std::string& why) {
  for (const char* root : kTracefs) {
    std::vector<Tracepoint> found;
    int err = 0;
    for (const char* call : kSyscalls)
      for (const char* phase : {"enter", "exit"}) {
        const std::string event = std::string("sys_") + phase + "_" + call;
        uint64_t id = 0;
        if (!err) {
          errno = 0;
          std::ifstream in(std::string(root) + "/events/syscalls/" + event + "/id");
          if (!in) err = errno ? errno : ENOENT;
          else if (!(in >> id)) err = EINVAL;
        }
        found.push_back({"syscalls:" + event, id});
      }
    if (!err) return found;
    // The first mount that exists names the cause; a missing one is no cause.
    if (why.empty() || err != ENOENT)
      why = std::string("cannot read the syscall tracepoints' ids in ") + root + " (" + strerror(err) + ")";
    if (err != ENOENT) break;
  }
  return {};
}

std::vector<std::pair<std::string, std::string>> tracepoint_formats(const std::vector<std::string>& names) {
  std::vector<std::string> files = {"events/header_page", "events/header_event"};
  for (const std::string& name : names) {
    const size_t colon = name.find(':');
    files.push_back("events/" + name.substr(0, colon) + "/" + name.substr(colon + 1) + "/format");
  }
  for (const char* root : kTracefs) {
    std::vector<std::pair<std::string, std::string>> found;
    for (const std::string& file : files) {
      std::ifstream in(std::string(root) + "/" + file);
      if (!in) break;
      found.emplace_back(file, std::string(std::istreambuf_iterator<char>(in), {}));
    }
    if (found.size() == files.size()) return found;
  }
  return {};
}

perf_event_attr tracepoint_attr(const Tracepoint& tp, const perf_event_attr& sideband) {
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.config = tp.id;
  attr.sample_period = 1;
  attr.sample_type = kSampleType | PERF_SAMPLE_RAW;
  attr.sample_id_all = 1;
  attr.inherit = sideband.inherit;
  attr.use_clockid = sideband.use_clockid;
  attr.clockid = sideband.clockid;
  // A syscall tracepoint fires in the kernel: with exclude_kernel the
  // kernel drops every hit (perf_tp_event_match), so it stays 0, as perf's.
  attr.exclude_hv = 1;
  return attr;
}

}  // namespace sideband
