{
  "targets": [
    {
      "target_name": "sideband",
      "sources": [
        "addon/addon.cc",
        "core/capture.cc",
        "core/event_set.cc",
        "core/launcher.cc",
        "core/live_tasks.cc",
        "core/losses.cc",
        "core/machine.cc",
        "core/open_error.cc",
        "core/ordering_queue.cc",
        "core/perf_file.cc",
        "core/proc_status.cc",
        "core/ring.cc",
        "core/status_emitter.cc",
        "core/tracepoints.cc",
        "addon/libstdcxx_floor.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-fexceptions", "-Wall", "-Wextra", "-O2"],
      "ldflags": ["-Wl,--version-script=<(module_root_dir)/addon/exports.map"]
    },
    {
      "target_name": "sideband_symbols",
      "sources": [
        "addon/symbols_addon.cc",
        "symbols/dwarf_module.cc",
        "addon/libstdcxx_floor.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-fexceptions", "-Wall", "-Wextra", "-O2"],
      "ldflags": ["-Wl,--version-script=<(module_root_dir)/addon/exports.map"],
      "libraries": ["-l:libdw.so.1", "-l:libelf.so.1"]
    },
    {
      "target_name": "sideband-capture",
      "type": "executable",
      "sources": [
        "tools/capture_helper.cc",
        "core/capture.cc",
        "core/event_set.cc",
        "core/launcher.cc",
        "core/live_tasks.cc",
        "core/losses.cc",
        "core/machine.cc",
        "core/open_error.cc",
        "core/ordering_queue.cc",
        "core/perf_file.cc",
        "core/proc_status.cc",
        "core/ring.cc",
        "core/status_emitter.cc",
        "core/tracepoints.cc"
      ],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-fexceptions", "-Wall", "-Wextra", "-O2"],
      "ldflags": ["-static", "-pthread"]
    }
  ]
}
