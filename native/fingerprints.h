// addon.Fingerprints: the expected fingerprint of each service a caller owns,
// by service id, updated from JS one change at a time; verify() compares the
// kernel's table with it on a worker thread (see verify.h).
//
// Copy on write: verify() takes the table as it is (a shared pointer, O(1),
// on the main thread); a set()/delete()/clear() while a verify still holds it
// copies the table first (O(size), once per verify that overlaps a change),
// so the worker reads a table no one writes. The count of holders changes
// only on the main thread (a verify's hold is released when its Promise
// settles), so reading it there decides safely.
#pragma once

#include <napi.h>

#include <memory>
#include <string>
#include <unordered_map>

#include "fingerprint.h"

namespace ipvs {

using FingerprintTable = std::unordered_map<std::string, Fingerprint>;

class Fingerprints : public Napi::ObjectWrap<Fingerprints> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Fingerprints(const Napi::CallbackInfo& info);

  // The table as it is now; later changes do not reach it. Main thread only.
  std::shared_ptr<const FingerprintTable> Snapshot() const { return table_; }

 private:
  // set(id: string, fingerprint: string): this
  Napi::Value Set(const Napi::CallbackInfo& info);
  // get(id: string): string | undefined
  Napi::Value Get(const Napi::CallbackInfo& info);
  // delete(id: string): boolean (whether it was there)
  Napi::Value Delete(const Napi::CallbackInfo& info);
  // update(changes: string): number. Lines "id\tfingerprint" (set) or "id\t-"
  // (delete) joined by '\n', all checked before any is applied.
  Napi::Value Update(const Napi::CallbackInfo& info);
  // clear(): void
  Napi::Value Clear(const Napi::CallbackInfo& info);
  // size: number
  Napi::Value Size(const Napi::CallbackInfo& info);

  FingerprintTable& Writable();

  std::shared_ptr<FingerprintTable> table_;
};

}  // namespace ipvs
