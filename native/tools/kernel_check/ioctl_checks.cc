// Checks of the ioctl on events of our own: what it writes, with which
// attr bits, its errors, and a burst that overflows the ring.
#include <elf.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../../core/abi.h"
#include "checks.h"
#include "engine_run.h"
#include "harness.h"
#include "proc_oracle.h"
#include "raw_event.h"
#include "records.h"
#include "target.h"

namespace sideband::kernel_check {

void check_raw_ioctl() {
  Target t({"status"});
  if (t.expect("ready").empty()) die("the status target did not start");
  const Oracle o = read_oracle(t.pid);
  const uint32_t all = kEmitFork | kEmitNamespaces | kEmitComm | kEmitMmap;

  // Succeeds, and what it writes is STATUS_ONLY records with this event's id.
  {
    RawEvent ev(engine_attr(), 0, -1, 64);
    if (ev.fd < 0) die("perf_event_open of a dummy event: %s. Fix: a kernel with CONFIG_PERF_EVENTS.", strerror(errno));
    uint64_t id = 0;
    ioctl(ev.fd, PERF_EVENT_IOC_ID, &id);
    ev.drain();
    const int err = ev.emit(t.pid, all);
    std::vector<Rec> recs;
    const bool ok = parse(ev.drain(), recs);
    size_t status = 0, ours = 0;
    for (auto& r : recs)
      if (r.type < 64 && r.status()) {
        ++status;
        ours += r.s.id == id && r.pid() == static_cast<uint32_t>(t.pid) && r.s.pid == static_cast<uint32_t>(t.pid);
      }
    verdict(err == 0 && ok && status > 0 && ours == status, "ioctl succeeds",
            "PERF_EVENT_IOC_EMIT_SIDEBAND(pid %d, all flags) returned %s, wrote %zu STATUS_ONLY records, %zu with this "
            "event's id and the target's sample pid",
            t.pid, err_name(err), status, ours);
  }

  // mmap_data: data VMAs too, flagged MMAP_DATA; build_id: build IDs.
  {
    perf_event_attr a = engine_attr();
    a.mmap_data = 1;
    RawEvent ev(a, 0, -1, 256);
    ev.drain();
    const int err = ev.emit(t.pid, kEmitMmap);
    std::vector<Rec> recs;
    parse(ev.drain(), recs);
    size_t data = 0, exec = 0, wrong_flag = 0;
    for (auto& r : recs) {
      if (r.type != PERF_RECORD_MMAP2 || !r.status()) continue;
      const bool is_exec = r.u32(64) & PROT_EXEC;
      (is_exec ? exec : data)++;
      if (is_exec == static_cast<bool>(r.misc & PERF_RECORD_MISC_MMAP_DATA)) ++wrong_flag;
    }
    const size_t want_data = o.all_maps.size() - o.exec_maps.size();
    verdict(err == 0 && data == want_data && exec == o.exec_maps.size() && wrong_flag == 0, "mmap_data adds data VMAs",
            "returned %s; %zu data + %zu executable records, /proc has %zu + %zu; %zu with a wrong MMAP_DATA flag",
            err_name(err), data, exec, want_data, o.exec_maps.size(), wrong_flag);
  }
  {
    perf_event_attr a = engine_attr();
    a.build_id = 1;
    RawEvent ev(a, 0, -1, 64);
    ev.drain();
    const int err = ev.emit(t.pid, kEmitMmap);
    std::vector<Rec> recs;
    parse(ev.drain(), recs);
    // The target is this program: its build ID from the ELF note.
    std::string want;
    {
      std::string elf = read_text("/proc/self/exe");
      const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(elf.data());
      for (int i = 0; elf.size() > sizeof *eh && i < eh->e_phnum; ++i) {
        const auto* ph = reinterpret_cast<const Elf64_Phdr*>(elf.data() + eh->e_phoff + i * eh->e_phentsize);
        if (ph->p_type != PT_NOTE) continue;
        for (size_t at = ph->p_offset; at + sizeof(Elf64_Nhdr) <= ph->p_offset + ph->p_filesz;) {
          const auto* nh = reinterpret_cast<const Elf64_Nhdr*>(elf.data() + at);
          const size_t name = (nh->n_namesz + 3) & ~3u, desc = (nh->n_descsz + 3) & ~3u;
          if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && !memcmp(elf.data() + at + sizeof *nh, "GNU", 4))
            for (size_t k = 0; k < nh->n_descsz; ++k) {
              char hex[3];
              snprintf(hex, sizeof hex, "%02x", static_cast<uint8_t>(elf[at + sizeof *nh + name + k]));
              want += hex;
            }
          at += sizeof *nh + name + desc;
        }
      }
    }
    std::string got;
    size_t with = 0, exe = 0;
    char self[256] = {};
    (void)!readlink("/proc/self/exe", self, sizeof self - 1);
    for (auto& r : recs) {
      if (r.type != PERF_RECORD_MMAP2 || !r.status() || r.str(72) != self) continue;
      ++exe;
      if (!(r.misc & PERF_RECORD_MISC_MMAP_BUILD_ID)) continue;
      ++with;
      got.clear();
      for (uint8_t k = 0; k < r.bytes[40] && k < 20; ++k) {
        char hex[3];
        snprintf(hex, sizeof hex, "%02x", r.bytes[44 + k]);
        got += hex;
      }
    }
    verdict(err == 0 && !want.empty() && exe > 0 && with == exe && got == want, "build_id: MMAP2 carries the build ID",
            "returned %s; %zu of %zu records of %s have MMAP_BUILD_ID, %s vs ELF note %s", err_name(err), with, exe, self,
            got.empty() ? "-" : got.c_str(), want.empty() ? "(none)" : want.c_str());
  }

  // Errors, as the RFC specifies them.
  {
    pid_t gone = fork();
    if (gone == 0) _exit(0);
    waitpid(gone, nullptr, 0);
    RawEvent ev(engine_attr(), 0, -1, 8);
    const int err = ev.emit(gone, kEmitComm);
    verdict(err == ESRCH, "missing task gives ESRCH", "pid %d (exited and reaped): %s", gone, err_name(err));
  }
  {
    RawEvent ev(engine_attr(), 0, -1, 8);
    const int err = ev.emit(t.pid, 1u << 4);
    verdict(err == EINVAL, "unknown flag gives EINVAL", "emit_flags 0x10: %s", err_name(err));
  }
  {
    perf_event_attr a = engine_attr();
    a.comm = 0;
    RawEvent no_comm(a, 0, -1, 8);
    const int e1 = no_comm.emit(t.pid, kEmitComm);
    a = engine_attr();
    a.sample_id_all = 0;
    RawEvent no_time(a, 0, -1, 8);
    const int e2 = no_time.emit(t.pid, kEmitComm);
    a = engine_attr();
    a.mmap = a.mmap2 = 0;
    RawEvent no_mmap(a, 0, -1, 8);
    const int e3 = no_mmap.emit(t.pid, kEmitMmap);
    a = engine_attr();
    a.namespaces = 0;
    RawEvent no_ns(a, 0, -1, 8);
    const int e4 = no_ns.emit(t.pid, kEmitNamespaces);
    verdict(e1 == EINVAL && e2 == EINVAL && e3 == EINVAL && e4 == EINVAL, "missing attr bits give EINVAL",
            "COMM without attr.comm: %s; without sample_id_all: %s; MMAP without mmap/mmap2/mmap_data: %s; NAMESPACES "
            "without attr.namespaces: %s",
            err_name(e1), err_name(e2), err_name(e3), err_name(e4));
  }
  {
    perf_event_attr a = engine_attr();
    a.disabled = 1;
    RawEvent disabled(a, 0, -1, 8);
    const int e1 = disabled.emit(t.pid, kEmitComm);
    RawEvent other(engine_attr(), t.pid, -1, 8);  // an event of another task
    const int e2 = other.emit(t.pid, kEmitComm);
    const std::vector<uint8_t> other_bytes = other.drain();
    verdict(e1 == EBUSY && e2 == EBUSY && other_bytes.empty(), "inactive event gives EBUSY",
            "disabled event: %s; event of another task: %s, wrote %zu bytes", err_name(e1), err_name(e2), other_bytes.size());
  }
  {
    // perf_event_open's permission check: an unprivileged caller may not
    // ask for the status of root's process.
    int pipefd[2];
    if (pipe(pipefd) != 0) die("pipe: %s", strerror(errno));
    pid_t child = fork();
    if (child == 0) {
      int result = -1;
      if (setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0) {
        perf_event_attr a = engine_attr();
        a.namespaces = 0;  // that needs CAP_PERFMON
        RawEvent ev(a, 0, -1, 0);
        result = ev.fd < 0 ? -errno : ev.emit(t.pid, kEmitComm);
      }
      (void)!write(pipefd[1], &result, sizeof result);
      _exit(0);
    }
    int result = -2;
    close(pipefd[1]);
    (void)!read(pipefd[0], &result, sizeof result);
    close(pipefd[0]);
    waitpid(child, nullptr, 0);
    verdict(result == EACCES, "no ptrace access gives EACCES", "uid 65534 asking for root's pid %d: %s", t.pid,
            result < 0 ? (std::string("could not set up: ") + (result == -1 ? "setresuid" : strerror(-result))).c_str()
                       : err_name(result));
  }
  t.send("quit");
}

void check_overflow() {
  const int maps = 400;
  Target t({"many", std::to_string(maps), "0"});
  if (t.expect("ready").empty()) die("the many-mappings target did not start");
  const size_t exec_vmas = proc_maps(t.pid, true).size();
  {
    RawEvent ev(engine_attr(), 0, -1, 1);  // one page, not read during the burst
    const int err = ev.emit(t.pid, kEmitMmap);
    std::vector<uint8_t> first = ev.drain();
    // The kernel writes LOST once there is room again: at the next record.
    const int err2 = ev.emit(getpid(), kEmitComm);
    std::vector<uint8_t> second = ev.drain();
    std::vector<Rec> recs;
    std::string why;
    const bool ok = parse(first, recs, &why) && parse(second, recs, &why);
    uint64_t lost = 0, mmaps = 0, lost_records = 0;
    for (auto& r : recs) {
      if (r.type == PERF_RECORD_LOST) {
        lost += r.lost();
        ++lost_records;
      }
      if (r.type == PERF_RECORD_MMAP2 && r.status() && r.pid() == static_cast<uint32_t>(t.pid)) ++mmaps;
    }
    verdict(err == 0 && err2 == 0 && ok && lost_records > 0 && mmaps + lost == exec_vmas, "overflow gives LOST, not corruption",
            "ioctl %s; 1-page ring: %" PRIu64 " MMAP2 read + %" PRIu64 " in %" PRIu64 " LOST records = %" PRIu64
            " of %zu executable VMAs; records %s",
            err_name(err), mmaps, lost, lost_records, mmaps + lost, exec_vmas, ok ? "parse cleanly" : why.c_str());
  }
  {
    // Through the engine: a one-page ring of its own ioctl event.
    auto run = capture(t.pid, true, 1, [] {});
    uint64_t mmaps = 0;
    for (auto& r : run->recs)
      if (r.type == PERF_RECORD_MMAP2 && r.status() && r.pid() == static_cast<uint32_t>(t.pid)) ++mmaps;
    const CaptureStats& s = run->c.stop_.stats;
    const bool path = !run->c.snapshots_.empty() && run->c.snapshots_.front().path == StatusPath::Ioctl;
    verdict(run->parsed && path && s.lost > 0 && s.lost_records > 0 && mmaps + s.lost >= exec_vmas,
            "engine reports ioctl overflow as LOST",
            "path %s; %" PRIu64 " MMAP2 delivered, %" PRIu64 " lost in %" PRIu64 " LOST records, %zu executable VMAs; "
            "records %s",
            path ? "ioctl" : "NOT ioctl", mmaps, s.lost, s.lost_records, exec_vmas,
            run->parsed ? "parse cleanly" : run->parse_error.c_str());
  }
  t.send("quit");
}

}  // namespace sideband::kernel_check
