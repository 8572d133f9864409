// The /proc oracle: threads, parent, names, namespaces and mappings of a
// process, as /proc tells them.
#include "proc_oracle.h"

#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace sideband::kernel_check {

namespace {

std::string chomp(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::vector<pid_t> tids_of(pid_t pid) {
  std::vector<pid_t> tids;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (atoi(e->d_name) > 0) tids.push_back(atoi(e->d_name));
    closedir(d);
  }
  std::sort(tids.begin(), tids.end());
  return tids;
}

uint32_t stat_ppid(pid_t pid) {
  std::string s = read_text("/proc/" + std::to_string(pid) + "/stat");
  size_t close = s.rfind(')');
  if (close == std::string::npos) return 0;
  return static_cast<uint32_t>(strtoul(s.c_str() + close + 4, nullptr, 10));
}

// {dev, ino} per namespace index, 0 where the kernel has no such namespace.
std::vector<std::pair<uint64_t, uint64_t>> proc_namespaces(pid_t pid, pid_t tid) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (const char* ns : kNs) {
    std::string path = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/ns/" + ns;
    char link[128] = {};
    struct stat st{};
    uint64_t dev = 0, ino = 0;
    if (readlink(path.c_str(), link, sizeof link - 1) > 0 && stat(path.c_str(), &st) == 0) {
      const char* open = strchr(link, '[');
      ino = open ? strtoull(open + 1, nullptr, 10) : 0;
      dev = st.st_dev;
    }
    out.emplace_back(dev, ino);
  }
  return out;
}

}  // namespace

std::string read_text(const std::string& path) {
  std::string s;
  FILE* f = fopen(path.c_str(), "re");
  if (!f) return s;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  fclose(f);
  return s;
}

std::vector<MapLine> proc_maps(pid_t pid, bool exec_only) {
  std::vector<MapLine> out;
  std::string text = read_text("/proc/" + std::to_string(pid) + "/maps");
  size_t at = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(at, nl - at);
    at = nl + 1;
    MapLine m{};
    char perms[8] = {};
    int name_at = 0;
    unsigned long long start, end, off, ino;
    if (sscanf(line.c_str(), "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &off, &m.maj, &m.min, &ino,
               &name_at) < 7)
      continue;
    m.start = start, m.end = end, m.pgoff = off, m.ino = ino;
    m.name = name_at > 0 && static_cast<size_t>(name_at) <= line.size() ? line.substr(name_at) : "";
    m.prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) | (perms[2] == 'x' ? PROT_EXEC : 0);
    m.flags = perms[3] == 's' ? MAP_SHARED : MAP_PRIVATE;
    if (m.name == "[vsyscall]") continue;  // the gate area: not a VMA of the process
    if (exec_only && !(m.prot & PROT_EXEC)) continue;
    if (m.name.empty()) m.name = "//anon";  // what the kernel calls it
    out.push_back(m);
  }
  return out;
}

Oracle read_oracle(pid_t pid) {
  Oracle o;
  o.pid = pid;
  o.tids = tids_of(pid);
  o.ppid = stat_ppid(pid);
  for (pid_t t : o.tids) {
    o.comm[t] = chomp(read_text("/proc/" + std::to_string(pid) + "/task/" + std::to_string(t) + "/comm"));
    o.ns[t] = proc_namespaces(pid, t);
  }
  o.exec_maps = proc_maps(pid, true);
  o.all_maps = proc_maps(pid, false);
  return o;
}

bool thread_of(uint32_t pid, uint32_t tid) {
  struct stat st;
  return stat(("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid)).c_str(), &st) == 0;
}

}  // namespace sideband::kernel_check
