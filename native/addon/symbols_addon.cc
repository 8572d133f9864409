// The Node binding of the symbolizer core (native/symbols): one Module object
// per ELF file. Names and paths cross into JavaScript once per module: the
// module keeps a JS array of the strings it has handed out, indexed like the
// core's interned strings, so a hundred thousand frames share a few thousand
// strings instead of allocating one each.
#include <napi.h>

#include "../symbols/dwarf_module.h"

namespace {

using symbols::DwarfModule;
using symbols::Frame;
using symbols::kNoString;

/** Runs f, turning a symbols::Error into a JS Error with its code and field, which the source-mapping path carries on. */
template <typename F>
auto guarded(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const symbols::Error& e) {
    Napi::Error error = Napi::Error::New(env, e.what());
    error.Set("code", e.code);
    if (*e.field) error.Set("field", e.field);
    throw error;
  }
}
using symbols::StringId;

class ModuleWrap : public Napi::ObjectWrap<ModuleWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Module",
                       {InstanceMethod<&ModuleWrap::Resolve>("resolve"), InstanceMethod<&ModuleWrap::CompileUnits>("compileUnits"),
                        InstanceMethod<&ModuleWrap::Functions>("functions")});
  }

  ModuleWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModuleWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString() || !(info[1].IsString() || info[1].IsNull()))
      throw Napi::TypeError::New(env, "open(mainFile: string, debugFile: string | null)");
    std::string main_file = info[0].As<Napi::String>();
    std::string debug_file = info[1].IsString() ? std::string(info[1].As<Napi::String>()) : std::string();
    module_ = guarded(env, [&] { return std::make_unique<DwarfModule>(main_file, debug_file); });
    js_strings_ = Napi::Persistent(Napi::Array::New(env));
  }

 private:
  Napi::Value js_string(Napi::Env env, Napi::Array strings, StringId id) {
    const auto& core_strings = module_->strings();
    for (uint32_t next = strings.Length(); next <= id; next++) strings.Set(next, Napi::String::New(env, core_strings[next]));
    return strings.Get(id);
  }

  Napi::Value Resolve(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
      throw Napi::TypeError::New(env, "resolve(addresses: Float64Array)");
    Napi::Float64Array addresses = info[0].As<Napi::Float64Array>();
    size_t count = addresses.ElementLength();
    Napi::Array result = Napi::Array::New(env, count);
    Napi::String function_key = Napi::String::New(env, "function"), file_key = Napi::String::New(env, "file"),
                 line_key = Napi::String::New(env, "line"), column_key = Napi::String::New(env, "column");
    Napi::Array strings = js_strings_.Value();
    std::vector<Frame> frames;
    for (size_t i = 0; i < count; i++) {
      Napi::HandleScope scope(env);
      frames.clear();
      guarded(env, [&] { module_->resolve(static_cast<uint64_t>(addresses[i]), frames); });
      Napi::Array js_frames = Napi::Array::New(env, frames.size());
      for (size_t f = 0; f < frames.size(); f++) {
        const Frame& frame = frames[f];
        Napi::Object o = Napi::Object::New(env);
        o.Set(function_key, js_string(env, strings, frame.function));
        if (frame.file != kNoString) {
          o.Set(file_key, js_string(env, strings, frame.file));
          o.Set(line_key, Napi::Number::New(env, frame.line));
          if (frame.column) o.Set(column_key, Napi::Number::New(env, frame.column));
        }
        js_frames.Set(static_cast<uint32_t>(f), o);
      }
      result.Set(static_cast<uint32_t>(i), js_frames);
    }
    return result;
  }

  Napi::Value CompileUnits(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto units = guarded(env, [&] { return module_->compile_units(); });
    Napi::Array result = Napi::Array::New(env, units.size());
    for (size_t i = 0; i < units.size(); i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", units[i].name);
      Napi::Array files = Napi::Array::New(env, units[i].files.size());
      for (size_t f = 0; f < units[i].files.size(); f++) files.Set(static_cast<uint32_t>(f), units[i].files[f]);
      o.Set("files", files);
      Napi::Array ranges = Napi::Array::New(env, units[i].ranges.size());
      for (size_t r = 0; r < units[i].ranges.size(); r++) {
        Napi::Array range = Napi::Array::New(env, 2);
        range.Set(0u, static_cast<double>(units[i].ranges[r].first));
        range.Set(1u, static_cast<double>(units[i].ranges[r].second));
        ranges.Set(static_cast<uint32_t>(r), range);
      }
      o.Set("ranges", ranges);
      result.Set(static_cast<uint32_t>(i), o);
    }
    return result;
  }

  Napi::Value Functions(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto functions = guarded(env, [&] { return module_->functions(); });
    Napi::Array result = Napi::Array::New(env, functions.size());
    for (size_t i = 0; i < functions.size(); i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", functions[i].name);
      o.Set("file", functions[i].file);
      o.Set("line", functions[i].line);
      o.Set("low", static_cast<double>(functions[i].low));
      o.Set("high", static_cast<double>(functions[i].high));
      result.Set(static_cast<uint32_t>(i), o);
    }
    return result;
  }

  std::unique_ptr<DwarfModule> module_;
  Napi::Reference<Napi::Array> js_strings_;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Function module_class = ModuleWrap::Define(env);
  auto* constructor = new Napi::FunctionReference(Napi::Persistent(module_class));
  env.SetInstanceData(constructor);
  exports.Set("open", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
                return info.Env().GetInstanceData<Napi::FunctionReference>()->New({info[0], info[1]});
              }));
  exports.Set("libdwVersion", Napi::String::New(env, DwarfModule::libdw_version()));
  return exports;
}

}  // namespace

NODE_API_MODULE(sideband_symbols, Init)
