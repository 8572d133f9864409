// The Node binding: a thin layer over the core. The core writes the
// capture's records to its perf.data itself; JavaScript is told how far the
// file has grown, and reads the records from the file when a view wants them.
#include <dirent.h>
#include <napi.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <system_error>
#include <variant>

#include "../core/capture.h"
#include "../core/proc_status.h"

namespace {

using namespace sideband;

Napi::Error to_js_error(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

// Copied into memory JavaScript owns: Electron refuses external buffers.
Napi::ArrayBuffer copy_to_js(Napi::Env env, const uint8_t* data, size_t size) {
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, size);
  if (size) memcpy(buffer.Data(), data, size);
  return buffer;
}

Napi::Object stats_to_js(Napi::Env env, const CaptureStats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("records", Napi::Number::New(env, static_cast<double>(s.records)));
  o.Set("statusRecords", Napi::Number::New(env, static_cast<double>(s.status_records)));
  o.Set("ioctlRecords", Napi::Number::New(env, static_cast<double>(s.ioctl_records)));
  o.Set("procRecords", Napi::Number::New(env, static_cast<double>(s.proc_records)));
  o.Set("lost", Napi::Number::New(env, static_cast<double>(s.lost)));
  o.Set("lostRecords", Napi::Number::New(env, static_cast<double>(s.lost_records)));
  return o;
}

// One message from the reader thread, converted to JavaScript on the main thread.
struct Message {
  // The file grew: how far is read when JavaScript takes the message.
  struct Written {};
  struct Warning {
    std::string code, message;
  };
  struct Failed {
    std::string code, message;
  };
  std::variant<AttachInfo, Written, SnapshotInfo, Warning, Failed, StopInfo> body;
};

// Messages waiting for JavaScript, at most. The file's growth is one of
// them at most (see written()), so only the rare others (snapshots,
// warnings) could ever fill the queue and make the reader wait.
constexpr size_t kMaxQueuedMessages = 64;

class CaptureWrap : public Napi::ObjectWrap<CaptureWrap>, public CaptureListener {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Capture",
                       {InstanceMethod<&CaptureWrap::Start>("start"),
                        InstanceMethod<&CaptureWrap::Snapshot>("snapshot"),
                        InstanceMethod<&CaptureWrap::Stop>("stop")});
  }

  explicit CaptureWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CaptureWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction())
      throw Napi::TypeError::New(env, "new Capture(options, onMessage)");
    Napi::Object o = info[0].As<Napi::Object>();
    CaptureOptions options;
    if (o.Has("pid") && o.Get("pid").IsNumber()) options.pid = o.Get("pid").As<Napi::Number>().Int32Value();
    if (o.Has("command") && o.Get("command").IsArray()) {
      Napi::Array a = o.Get("command").As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); ++i) options.command.push_back(a.Get(i).ToString().Utf8Value());
    }
    if (o.Has("followChildren")) options.follow_children = o.Get("followChildren").ToBoolean();
    if (o.Has("ringPages")) options.ring_pages = o.Get("ringPages").As<Napi::Number>().Uint32Value();
    if (o.Has("emit")) options.emit = o.Get("emit").As<Napi::Number>().Uint32Value();
    if (o.Has("tryIoctl")) options.try_ioctl = o.Get("tryIoctl").ToBoolean();
    if (o.Has("regionTracepoints")) options.region_tracepoints = o.Get("regionTracepoints").ToBoolean();
    if (o.Has("helper")) options.helper = o.Get("helper").ToString().Utf8Value();
    if (!o.Has("output") || !o.Get("output").IsString() || o.Get("output").As<Napi::String>().Utf8Value().empty())
      throw Napi::TypeError::New(env, "new Capture(options, onMessage): options.output, the perf.data to write, is required");
    options.output = o.Get("output").As<Napi::String>().Utf8Value();
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    capture_ = std::make_unique<Capture>(std::move(options), this);
  }

  ~CaptureWrap() override { capture_.reset(); }

 private:
  static void on_js_thread(Napi::Env env, Napi::Function fn, CaptureWrap* self, Message* raw);
  using Messages = Napi::TypedThreadSafeFunction<CaptureWrap, Message, &CaptureWrap::on_js_thread>;

  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (started_) throw Napi::Error::New(env, "capture already started");
    messages_ = Messages::New(env, callback_.Value(), "sideband-capture", kMaxQueuedMessages, 1, this);
    // Added after the function, so it runs before Node's own hook frees that (hooks run last added first).
    napi_add_env_cleanup_hook(env, &CaptureWrap::teardown, this);
    try {
      capture_->start();
    } catch (const std::system_error& e) {
      // No reader thread, so nothing would ever release the function and Node's loop with it.
      napi_remove_env_cleanup_hook(env, &CaptureWrap::teardown, this);
      messages_.Release();
      throw to_js_error(env, "ETHREAD", std::string("cannot start the capture's reader thread: ") + e.what() +
                                            ". Fix: free memory, or raise the limits on threads and address space (ulimit -u, ulimit -v).");
    }
    started_ = true;
    Ref();  // stay alive until the reader thread says it stopped
    return env.Undefined();
  }

  // Node tears the environment down (its worker terminated, the process
  // exiting) while the capture runs: the reader thread must be gone before
  // the function it posts to is freed. Aborting the function first wakes a
  // reader waiting for room in the queue, and fails its later posts.
  static void teardown(void* arg) {
    auto* self = static_cast<CaptureWrap*>(arg);
    self->capture_->request_stop();
    self->messages_.Abort();
    self->capture_->join();
  }
  Napi::Value Snapshot(const Napi::CallbackInfo& info) {
    capture_->request_snapshot();
    return info.Env().Undefined();
  }
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    capture_->request_stop(info.Length() > 0 && info[0].ToBoolean());
    return info.Env().Undefined();
  }

  // CaptureListener, on the reader thread.
  void attached(const AttachInfo& info) override { post(Message{info}); }
  // At most one growth message waits for JavaScript, carrying the latest
  // end when it is taken: a JavaScript thread that is busy for seconds never
  // holds the reader back, as a queue of growth messages filling up would.
  void written(uint64_t data_end, const CaptureStats& stats) override {
    {
      std::lock_guard<std::mutex> lock(written_mutex_);
      written_end_ = data_end;
      written_stats_ = stats;
      if (written_waiting_) return;
      written_waiting_ = true;
    }
    post(Message{Message::Written{}});
  }
  void snapshot(const SnapshotInfo& info) override { post(Message{info}); }
  void warning(const std::string& code, const std::string& message) override {
    post(Message{Message::Warning{code, message}});
  }
  void failed(const Error& error) override { post(Message{Message::Failed{error.code(), error.what()}}); }
  void stopped(const StopInfo& info) override { post(Message{info}); }

  void post(Message&& m) {
    auto owned = std::make_unique<Message>(std::move(m));
    // Waits while the queue is full. Fails only once the environment is torn
    // down, when no JavaScript is left to take the message: it is dropped here.
    if (messages_.BlockingCall(owned.get()) == napi_ok) owned.release();
  }

  void deliver(Napi::Env env, Napi::Function fn, Message& m) {
    Napi::HandleScope scope(env);
    Napi::Object o = Napi::Object::New(env);
    bool last = false;
    if (auto* a = std::get_if<AttachInfo>(&m.body)) {
      o.Set("kind", "attached");
      o.Set("pid", a->pid);
      Napi::Array events = Napi::Array::New(env, a->events.size());
      for (size_t e = 0; e < a->events.size(); ++e) {
        const EventInfo& event = a->events[e];
        Napi::Object js = Napi::Object::New(env);
        js.Set("name", event.name);
        js.Set("attr", copy_to_js(env, event.attr.data(), event.attr.size()));
        Napi::Array ids = Napi::Array::New(env, event.ids.size());
        for (size_t i = 0; i < event.ids.size(); ++i)
          ids.Set(static_cast<uint32_t>(i), Napi::BigInt::New(env, event.ids[i]));
        js.Set("ids", ids);
        events.Set(static_cast<uint32_t>(e), js);
      }
      o.Set("events", events);
      o.Set("ioctlId", Napi::BigInt::New(env, a->ioctl_id));
      Napi::Array cpus = Napi::Array::New(env, a->cpus.size());
      for (size_t i = 0; i < a->cpus.size(); ++i) cpus.Set(static_cast<uint32_t>(i), a->cpus[i]);
      o.Set("cpus", cpus);
      o.Set("ringPages", static_cast<double>(a->ring_pages));
      o.Set("namespaces", a->namespaces);
    } else if (std::holds_alternative<Message::Written>(m.body)) {
      std::lock_guard<std::mutex> lock(written_mutex_);
      written_waiting_ = false;
      o.Set("kind", "written");
      o.Set("dataEnd", static_cast<double>(written_end_));
      o.Set("stats", stats_to_js(env, written_stats_));
    } else if (auto* s = std::get_if<SnapshotInfo>(&m.body)) {
      o.Set("kind", "snapshot");
      o.Set("index", s->index);
      o.Set("path", status_path_name(s->path));
      o.Set("processes", static_cast<double>(s->processes));
      o.Set("records", static_cast<double>(s->records));
      o.Set("stale", static_cast<double>(s->stale));
      o.Set("gone", static_cast<double>(s->gone));
      o.Set("start", Napi::BigInt::New(env, s->start));
      o.Set("end", Napi::BigInt::New(env, s->end));
    } else if (auto* warning = std::get_if<Message::Warning>(&m.body)) {
      o.Set("kind", "warning");
      o.Set("code", warning->code);
      o.Set("message", warning->message);
    } else if (auto* f = std::get_if<Message::Failed>(&m.body)) {
      o.Set("kind", "failed");
      o.Set("error", to_js_error(env, f->code, f->message).Value());
    } else if (auto* st = std::get_if<StopInfo>(&m.body)) {
      o.Set("kind", "stopped");
      o.Set("reason", st->reason);
      o.Set("exitStatus", st->exit_status);
      o.Set("stats", stats_to_js(env, st->stats));
      last = true;
    }
    // An exception thrown by the JavaScript side stays there: the engine
    // keeps running, and after its last message still lets go of the
    // thread and of Node's event loop.
    try {
      fn.Call({o});
    } catch (const Napi::Error&) {
      if (last) release(env);
      throw;  // node-addon-api hands it back to JavaScript as uncaught
    }
    if (last) release(env);
  }

  void release(Napi::Env env) {
    capture_->join();
    napi_remove_env_cleanup_hook(env, &CaptureWrap::teardown, this);
    messages_.Release();
    Unref();
  }

  Napi::FunctionReference callback_;
  Messages messages_;
  std::unique_ptr<Capture> capture_;
  bool started_ = false;
  std::mutex written_mutex_;  // guards the three below, shared by the reader and JavaScript
  uint64_t written_end_ = 0;
  CaptureStats written_stats_;
  bool written_waiting_ = false;
};

void CaptureWrap::on_js_thread(Napi::Env env, Napi::Function fn, CaptureWrap* self, Message* raw) {
  std::unique_ptr<Message> message(raw);
  // No environment: Node is emptying the queue of a function it frees, with no JavaScript left to call.
  if (env == nullptr) return;
  self->deliver(env, fn, *message);
}

// Status of the given processes (or, with none, of every process on the
// machine) from /proc, synchronously; options.procmapQuery false reads the
// maps text, options.procRoot is another procfs mount. For benchmarks and
// tests of the layout.
Napi::Value ReadProcStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<uint32_t> pids;
  if (info.Length() > 0 && info[0].IsArray()) {
    Napi::Array a = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) pids.push_back(a.Get(i).As<Napi::Number>().Uint32Value());
  } else {
    DIR* d = opendir("/proc");
    while (dirent* e = d ? readdir(d) : nullptr) {
      char* end;
      unsigned long pid = strtoul(e->d_name, &end, 10);
      if (*end == 0 && pid > 0) pids.push_back(static_cast<uint32_t>(pid));
    }
    if (d) closedir(d);
  }
  const uint32_t emit = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0xf;
  const Napi::Object options = info.Length() > 2 && info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
  const bool procmap_query = options.Has("procmapQuery") ? options.Get("procmapQuery").ToBoolean().Value() : true;
  const std::string proc_root = options.Has("procRoot") ? options.Get("procRoot").ToString().Utf8Value() : "/proc";
  ProcStatusReader reader(emit, procmap_query, proc_root);
  std::vector<uint8_t> out;
  size_t records = 0, stale = 0, processes = 0;
  const uint64_t start = monotonic_ns();
  try {
    for (uint32_t pid : pids) {
      ProcWindow w = reader.read_process(pid, out);
      if (w.gone) continue;
      ++processes;
      records += w.records;
      if (w.stale) stale += w.records;
    }
  } catch (const std::exception& e) {
    throw to_js_error(env, "EINTERNAL", std::string("internal error reading /proc status: ") + e.what() +
                                            ". Fix: report it with the process it was reading.");
  }
  const uint64_t end = monotonic_ns();
  Napi::Object o = Napi::Object::New(env);
  o.Set("records", copy_to_js(env, out.data(), out.size()));
  o.Set("count", static_cast<double>(records));
  o.Set("stale", static_cast<double>(stale));
  o.Set("processes", static_cast<double>(processes));
  o.Set("nanoseconds", static_cast<double>(end - start));
  o.Set("procmapQuery", reader.uses_procmap_query());
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Capture", CaptureWrap::Define(env));
  exports.Set("readProcStatus", Napi::Function::New(env, ReadProcStatus));
  return exports;
}

}  // namespace

NODE_API_MODULE(sideband, Init)
