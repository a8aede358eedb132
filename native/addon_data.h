// What the addon keeps per Node environment: the constructors of the classes
// that handle methods make or check (Cursor is not exported: only
// Handle.listCursor() makes one).
#pragma once

#include <napi.h>

namespace ipvs {

struct AddonData {
  Napi::FunctionReference fingerprints;
  Napi::FunctionReference cursor;
};

inline AddonData& AddonDataOf(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace ipvs
