// Why the kernel refused to open a capture's event, and what fixes it.
#include "open_error.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "errors.h"
#include "machine.h"

namespace sideband {

namespace {

constexpr int kCapPerfmon = 38;
constexpr int kCapSysAdmin = 21;

// For a shell: the path in single quotes, each ' as '\''.
std::string shell_quoted(const std::string& path) {
  std::string out = "'";
  for (char c : path) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// What a container refuses perf with: no CAP_PERFMON or CAP_SYS_PTRACE
// (Docker's default), and a seccomp profile that may refuse the call itself.
[[noreturn]] void explain_in_container(int err, const std::string& evidence, long paranoid) {
  const bool seccomp = under_seccomp_filter();
  throw Error("ECONTAINER",
              std::string("perf_event_open was refused (") + strerror(err) + ") inside a container (" + evidence +
                  "; kernel.perf_event_paranoid is " + std::to_string(paranoid) +
                  "): containers run without CAP_PERFMON and CAP_SYS_PTRACE" +
                  (seccomp ? ", and this one under a seccomp filter, which may refuse perf_event_open itself" : "") +
                  ". Fix: in .devcontainer/devcontainer.json, set `\"runArgs\": [\"--cap-add=PERFMON\", "
                  "\"--cap-add=SYS_PTRACE\"]` and rebuild the container" +
                  (seccomp ? "; if its seccomp profile still refuses perf_event_open, add `\"--security-opt\", "
                             "\"seccomp=unconfined\"` to runArgs, or give Docker a profile that allows it"
                           : "") +
                  ".");
}

}  // namespace

std::string privilege_fix(const std::string& helper) { return "Fix: " + privilege_remedies(helper); }

std::string privilege_remedies(const std::string& helper) {
  return "capture with elevated privileges, asked each time (the command \"Perf Sideband: Capture with "
         "Elevated Privileges…\", or `sideband capture --via sudo`); or once, give the capture helper alone the "
         "capabilities: `sudo setcap cap_perfmon,cap_sys_ptrace+ep " +
         shell_quoted(helper.empty() ? "sideband-capture" : helper) +
         "` (then `sideband capture --via helper`); or lower the sysctl for everyone: `sudo sysctl "
         "kernel.perf_event_paranoid=2` (until reboot; a file in /etc/sysctl.d/ keeps it).";
}

void explain_open_error(int err, pid_t target, pid_t tid, const std::string& helper) {
  const std::string pid = std::to_string(target);
  if (err == ESRCH)
    throw Error("ENOPID", "process " + pid + " does not exist (it may have exited). Fix: check the pid with `ps -p " +
                              pid + "`, or launch the program under the capture: `sideband capture -o FILE -- CMD`.");
  if (err == EACCES || err == EPERM) {
    // perf's own check for a task is ptrace read access, as for its maps:
    // if those are closed to us, that is the cause, whatever the sysctl says.
    char maps[64];
    snprintf(maps, sizeof maps, "/proc/%d/maps", tid);
    int fd = open(maps, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && (errno == EACCES || errno == EPERM)) {
      // statx, not stat: glibc 2.28 has it, stat is a 2.33 symbol.
      struct statx st{};
      char dir[64];
      snprintf(dir, sizeof dir, "/proc/%d", tid);
      statx(AT_FDCWD, dir, 0, STATX_UID, &st);
      throw Error("EPTRACE", "no permission to observe process " + pid + " (owned by uid " + std::to_string(st.stx_uid) +
                                 "): perf needs ptrace read access to it. Fix: capture as the user that runs it; or " +
                                 privilege_remedies(helper));
    }
    if (fd >= 0) close(fd);
    const long paranoid = read_long("/proc/sys/kernel/perf_event_paranoid", 2);
    const std::string container = container_evidence();
    if (!container.empty()) explain_in_container(err, container, paranoid);
    const bool privileged = has_capability(kCapPerfmon) || has_capability(kCapSysAdmin);
    // Above 2 is a Debian and Ubuntu patch that denies perf to unprivileged users.
    if (!privileged && paranoid > 2)
      throw Error("EPARANOID", "perf_event_open was refused: kernel.perf_event_paranoid is " + std::to_string(paranoid) +
                                   ", which denies perf to unprivileged users. " + privilege_fix(helper));
    throw Error("EPERM", std::string("perf_event_open was refused: ") + strerror(err) +
                             " (kernel.perf_event_paranoid is " + std::to_string(paranoid) +
                             "). " + privilege_fix(helper));
  }
  if (err == EMFILE || err == ENFILE)
    throw Error("EMFILE", "too many open files: a capture opens one event per thread and CPU. Fix: raise the limit "
                          "with `ulimit -n 65536` before capturing.");
  // ENOSYS is also what a user-mode emulator answers (qemu-user runs the
  // arm64 build on x86_64 without passing perf_event_open through).
  if (err == ENOSYS)
    throw Error("ENOPERF", "perf_event_open is not implemented here: the kernel was built without "
                           "CONFIG_PERF_EVENTS, or this runs under a user-mode emulator such as qemu-user, which does "
                           "not pass it through. Fix: run on a kernel with CONFIG_PERF_EVENTS, natively or in a full "
                           "virtual machine.");
  if (err == ENOENT || err == ENODEV || err == EOPNOTSUPP)
    throw Error("ENOPERF", std::string("this kernel cannot open the perf dummy event: ") + strerror(err) +
                               ". Fix: use a kernel built with CONFIG_PERF_EVENTS.");
  throw Error("ESYS", std::string("perf_event_open failed: ") + strerror(err) + ".");
}

}  // namespace sideband
