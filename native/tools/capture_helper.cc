// sideband-capture: the capture core as its own small executable, the one
// thing that ever needs privileges (run through pkexec or sudo, or given
// cap_perfmon,cap_sys_ptrace+ep once), so that the editor and node never do.
//
//   sideband-capture --output FILE --control SOCKET --pid PID [--ring-pages N]
//                    [--emit BITS] [--no-children] [--no-ioctl] [--no-region-tracepoints]
//
// The unprivileged front end creates FILE (so it stays the user's) and
// listens on SOCKET; the helper opens FILE only if it is a regular file of
// the user who ran it, connects to SOCKET only if the user who ran it listens
// there, writes the records into FILE, and tells the front end on SOCKET, a
// JSON object a line, what the addon tells its JavaScript (attached, written,
// snapshot, warning, failed, stopped). The front end writes back `snapshot`,
// `stop` or `kill`, a line each; its going away stops the capture. The front
// end finishes FILE once the helper has stopped, as it does the addon's.
//
// It attaches to a pid and never launches a command: elevated, that command
// would run as root.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>

#include "../core/capture.h"
#include "../core/tracepoints.h"

using namespace sideband;

namespace {

// The largest pid Linux gives (PID_MAX_LIMIT on 64-bit).
constexpr long kPidMax = 4194304;
// Pages per CPU at most (32 MiB of 4 KiB pages): what a user allowed to run
// the helper as root may lock.
constexpr size_t kMaxRingPages = 8192;

Capture* running = nullptr;

void on_signal(int) {
  if (running) running->request_stop();
}

// Who asked for this capture: under sudo or pkexec the real uid is root and
// they say whom they ran it for; otherwise (setcap, or run directly) the
// real uid is the user. Their variables are trusted only from root.
uid_t requesting_uid() {
  if (getuid() != 0) return getuid();
  for (const char* name : {"SUDO_UID", "PKEXEC_UID"})
    if (const char* v = getenv(name)) {
      char* end;
      const unsigned long uid = strtoul(v, &end, 10);
      if (*v && !*end && uid < UINT_MAX) return static_cast<uid_t>(uid);
    }
  return 0;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') out += {'\\', static_cast<char>(c)};
    else if (c < 0x20) {
      char escaped[8];
      snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out += escaped;
    } else out += static_cast<char>(c);
  }
  return out + "\"";
}

std::string json_stats(const CaptureStats& s) {
  char out[256];
  snprintf(out, sizeof out,
           "{\"records\":%" PRIu64 ",\"statusRecords\":%" PRIu64 ",\"ioctlRecords\":%" PRIu64 ",\"procRecords\":%" PRIu64
           ",\"lost\":%" PRIu64 ",\"lostRecords\":%" PRIu64 "}",
           s.records, s.status_records, s.ioctl_records, s.proc_records, s.lost, s.lost_records);
  return out;
}

// Tells the front end, a line per message. Called on the reader thread only.
class Reporter : public CaptureListener {
 public:
  explicit Reporter(int fd) : fd_(fd) {}

  void attached(const AttachInfo& a) override {
    std::string events;
    for (const EventInfo& e : a.events) {
      std::string attr, ids;
      for (uint8_t b : e.attr) {
        char hex[3];
        snprintf(hex, sizeof hex, "%02x", b);
        attr += hex;
      }
      for (uint64_t id : e.ids) ids += (ids.empty() ? "\"" : ",\"") + std::to_string(id) + "\"";
      events += std::string(events.empty() ? "" : ",") + "{\"name\":" + json_string(e.name) + ",\"attr\":\"" + attr +
                "\",\"ids\":[" + ids + "]}";
    }
    // The tracepoints' formats, which the front end, perhaps unprivileged,
    // needs to finish the file and may not be allowed to read.
    std::vector<std::string> tracepoints;
    for (size_t e = 1; e < a.events.size(); ++e) tracepoints.push_back(a.events[e].name);
    std::string formats;
    if (!tracepoints.empty())
      for (const auto& [file, text] : tracepoint_formats(tracepoints))
        formats += (formats.empty() ? "" : ",") + json_string(file) + ":" + json_string(text);
    std::string cpus;
    for (int cpu : a.cpus) cpus += (cpus.empty() ? "" : ",") + std::to_string(cpu);
    send("{\"kind\":\"attached\",\"pid\":" + std::to_string(a.pid) + ",\"events\":[" + events + "],\"ioctlId\":\"" +
         std::to_string(a.ioctl_id) + "\",\"cpus\":[" + cpus + "],\"ringPages\":" + std::to_string(a.ring_pages) +
         ",\"namespaces\":" + (a.namespaces ? "true" : "false") + ",\"tracefs\":{" + formats + "}}");
  }
  void written(uint64_t data_end, const CaptureStats& stats) override {
    send("{\"kind\":\"written\",\"dataEnd\":" + std::to_string(data_end) + ",\"stats\":" + json_stats(stats) + "}");
  }
  void snapshot(const SnapshotInfo& s) override {
    send("{\"kind\":\"snapshot\",\"index\":" + std::to_string(s.index) + ",\"path\":\"" + status_path_name(s.path) +
         "\",\"processes\":" + std::to_string(s.processes) + ",\"records\":" + std::to_string(s.records) +
         ",\"stale\":" + std::to_string(s.stale) + ",\"gone\":" + std::to_string(s.gone) + ",\"start\":\"" +
         std::to_string(s.start) + "\",\"end\":\"" + std::to_string(s.end) + "\"}");
  }
  void warning(const std::string& code, const std::string& message) override {
    send("{\"kind\":\"warning\",\"code\":" + json_string(code) + ",\"message\":" + json_string(message) + "}");
  }
  void failed(const Error& e) override {
    has_failed = true;
    fprintf(stderr, "sideband-capture: %s\n", e.what());
    send("{\"kind\":\"failed\",\"code\":" + json_string(e.code()) + ",\"message\":" + json_string(e.what()) + "}");
  }
  void stopped(const StopInfo& s) override {
    send("{\"kind\":\"stopped\",\"reason\":" + json_string(s.reason) + ",\"exitStatus\":" + std::to_string(s.exit_status) +
         ",\"stats\":" + json_stats(s.stats) + "}");
  }

  bool has_failed = false;

 private:
  // A front end that has gone loses the rest: the capture stops on its own
  // (the command reader sees the socket close).
  void send(std::string line) {
    line += '\n';
    for (size_t done = 0; done < line.size();) {
      const ssize_t n = ::send(fd_, line.data() + done, line.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }

  int fd_;
};

[[noreturn]] void fail(const std::string& message) {
  fprintf(stderr, "sideband-capture: %s\n", message.c_str());
  exit(1);
}

// The capture's file, opened as the requesting user's own: never created,
// never through a symlink, and not a file of anyone else's, so the helper
// run as root writes nowhere its user could not.
int open_output(const std::string& path, uid_t user) {
  const int fd = open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    fail("cannot open " + path + ": " + strerror(errno) + ". Fix: the front end creates the file first, as the user who captures.");
  struct stat st{};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != user)
    fail(path + " is not a regular file of uid " + std::to_string(user) +
         ": the helper writes only its user's own files. Fix: create the output file as that user.");
  if (ftruncate(fd, 0) != 0 || fcntl(fd, F_SETFL, 0) != 0) fail("cannot write " + path + ": " + strerror(errno) + ".");
  return fd;
}

// The front end's socket, if the requesting user is the one listening on
// it: the path may name anything, and root may connect anywhere.
int connect_control(const std::string& path, uid_t user) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) fail("the control socket's path is too long: " + path + ".");
  memcpy(address.sun_path, path.c_str(), path.size() + 1);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
    fail("cannot connect to the front end at " + path + ": " + strerror(errno) + ". Fix: start the helper from `sideband capture --via` or the extension.");
  ucred peer{};
  socklen_t size = sizeof peer;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0 || peer.uid != user)
    fail(path + " is not a socket of uid " + std::to_string(user) + "'s: the helper reports only to its own user.");
  return fd;
}

// Only digits, and a pid Linux can give: no sign, space or suffix passes.
pid_t parse_pid(const char* text) {
  if (!*text || strlen(text) > 7 || strspn(text, "0123456789") != strlen(text)) return 0;
  const long pid = strtol(text, nullptr, 10);
  return pid > 0 && pid <= kPidMax ? static_cast<pid_t>(pid) : 0;
}

int usage() {
  fprintf(stderr,
          "usage: sideband-capture --output FILE --control SOCKET --pid PID [--ring-pages N] [--emit BITS]\n"
          "                        [--no-children] [--no-ioctl] [--no-region-tracepoints]\n"
          "The extension and `sideband capture --via helper|sudo|pkexec` run it.\n");
  return 2;
}

// The front end's commands, until it closes the socket, which stops the capture too.
void read_commands(int fd, Capture& capture) {
  std::string pending;
  char buffer[256];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buffer, static_cast<size_t>(n));
    for (size_t end; (end = pending.find('\n')) != std::string::npos; pending.erase(0, end + 1)) {
      const std::string command = pending.substr(0, end);
      if (command == "snapshot") capture.request_snapshot();
      else if (command == "stop") capture.request_stop();
      else if (command == "kill") capture.request_stop(true);
    }
  }
  capture.request_stop();
}

}  // namespace

int main(int argc, char** argv) {
  CaptureOptions options;
  std::string control;
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (!strcmp(argv[i], "--output") && has_value) options.output = argv[++i];
    else if (!strcmp(argv[i], "--control") && has_value) control = argv[++i];
    else if (!strcmp(argv[i], "--pid") && has_value) {
      options.pid = parse_pid(argv[++i]);
      if (!options.pid) {
        fprintf(stderr, "sideband-capture: --pid needs a process id (1 to %ld), not '%s'\n", kPidMax, argv[i]);
        return usage();
      }
    } else if (!strcmp(argv[i], "--ring-pages") && has_value) {
      // Root's locked memory has no budget to shrink to: the helper keeps one.
      options.ring_pages = strtoul(argv[++i], nullptr, 10);
      if (options.ring_pages == 0 || options.ring_pages > kMaxRingPages) {
        fprintf(stderr, "sideband-capture: --ring-pages needs 1 to %zu, not '%s'\n", kMaxRingPages, argv[i]);
        return usage();
      }
    }
    else if (!strcmp(argv[i], "--emit") && has_value) options.emit = static_cast<uint32_t>(strtoul(argv[++i], nullptr, 10));
    else if (!strcmp(argv[i], "--no-children")) options.follow_children = false;
    else if (!strcmp(argv[i], "--no-ioctl")) options.try_ioctl = false;
    else if (!strcmp(argv[i], "--no-region-tracepoints")) options.region_tracepoints = false;
    else return usage();
  }
  if (options.output.empty() || control.empty() || !options.pid) return usage();

  const uid_t user = requesting_uid();
  options.output_fd = open_output(options.output, user);
  const int socket_fd = connect_control(control, user);
  char self[PATH_MAX];
  const ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
  options.helper = length > 0 ? std::string(self, static_cast<size_t>(length)) : "sideband-capture";

  Reporter reporter(socket_fd);
  Capture capture(options, &reporter);
  running = &capture;
  // Ctrl-C in the terminal sudo runs in, or the terminal closed.
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) signal(sig, on_signal);
  fprintf(stderr, "sideband-capture: capturing process %d into %s; Ctrl-C stops it.\n", options.pid, options.output.c_str());
  try {
    capture.start();
  } catch (const std::system_error& e) {
    fail(std::string("cannot start the capture's reader thread: ") + e.what() + ".");
  }
  std::thread commands([socket_fd, &capture] { read_commands(socket_fd, capture); });
  capture.join();
  running = nullptr;
  shutdown(socket_fd, SHUT_RD);  // ends the command reader, which outlives no capture
  commands.join();
  return reporter.has_failed ? 1 : 0;
}
