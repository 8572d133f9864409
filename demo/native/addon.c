// The demo's native addon: `checksum(buffer)` over N-API. app.js loads it
// after the debugger has attached, so its mapping arrives as a real MMAP2
// record while node's own mappings are status-only; both map back to C
// sources, and this workspace holds these.
#include <node_api.h>

#include "checksum.h"

static napi_value checksum(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  void *data = NULL;
  size_t length = 0;
  napi_value result;
  if (napi_get_cb_info(env, info, &argc, &arg, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_buffer_info(env, arg, &data, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "checksum(buffer): pass a Buffer");
    return NULL;
  }
  napi_create_uint32(env, demo_checksum(data, length), &result);
  return result;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  napi_create_function(env, "checksum", NAPI_AUTO_LENGTH, checksum, NULL, &fn);
  napi_set_named_property(env, exports, "checksum", fn);
  return exports;
}
