// Registration only: the addon exports the Handle, Fingerprints and ProbeEngine classes,
// release(),
// and the kernel's numbers the facade needs to agree on.
#include <linux/ip_vs.h>
#include <napi.h>
#include <sys/socket.h>

#include "addon_data.h"
#include "cursor.h"
#include "fingerprints.h"
#include "handle.h"
#include "js_convert.h"
#include "probe_engine.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new ipvs::AddonData();
  env.SetInstanceData(data);  // deleted with the environment
  exports.Set("Handle", ipvs::Handle::Define(env));
  Napi::Function fingerprints = ipvs::Fingerprints::Define(env);
  data->fingerprints = Napi::Persistent(fingerprints);
  exports.Set("Fingerprints", fingerprints);
  data->cursor = Napi::Persistent(ipvs::Cursor::Define(env));
  exports.Set("ProbeEngine", ipvs::ProbeEngine::Define(env));
  exports.Set("release", Napi::Function::New<ipvs::Release>(env, "release"));

  Napi::Object constants = Napi::Object::New(env);
  constants.Set("AF_INET", static_cast<int>(AF_INET));
  constants.Set("AF_INET6", static_cast<int>(AF_INET6));
  constants.Set("IPVS_CMD_NEW_SERVICE", static_cast<int>(IPVS_CMD_NEW_SERVICE));
  constants.Set("IPVS_CMD_SET_SERVICE", static_cast<int>(IPVS_CMD_SET_SERVICE));
  constants.Set("IPVS_CMD_DEL_SERVICE", static_cast<int>(IPVS_CMD_DEL_SERVICE));
  constants.Set("IPVS_CMD_NEW_DEST", static_cast<int>(IPVS_CMD_NEW_DEST));
  constants.Set("IPVS_CMD_SET_DEST", static_cast<int>(IPVS_CMD_SET_DEST));
  constants.Set("IPVS_CMD_DEL_DEST", static_cast<int>(IPVS_CMD_DEL_DEST));
  constants.Set("IPVS_CMD_NEW_DAEMON", static_cast<int>(IPVS_CMD_NEW_DAEMON));
  constants.Set("IPVS_CMD_DEL_DAEMON", static_cast<int>(IPVS_CMD_DEL_DAEMON));
  constants.Set("IPVS_CMD_SET_CONFIG", static_cast<int>(IPVS_CMD_SET_CONFIG));
  constants.Set("IPVS_CMD_ZERO", static_cast<int>(IPVS_CMD_ZERO));
  constants.Set("IPVS_CMD_FLUSH", static_cast<int>(IPVS_CMD_FLUSH));
  exports.Set("constants", constants);
  return exports;
}

}  // namespace

NODE_API_MODULE(ipvs, Init)
