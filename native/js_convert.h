// JavaScript values <-> plain IPVS values. Main thread only. The TypeScript
// facade validates every field first; these checks keep the native layer
// safe against a caller that skips it.
#pragma once

#include <napi.h>

#include <vector>

#include "ipvs_types.h"
#include "listing.h"
#include "netlink_session.h"

namespace ipvs {

// Reads RawRequest objects. The property-name strings are made once per
// reader (one prepare() call), not once per field.
class RequestReader {
 public:
  explicit RequestReader(napi_env env);
  // Throws EncodeError(EINVAL) for a value that is not a valid request, and
  // clears any JS exception a getter threw.
  Request Read(napi_value value);
  ServiceKey ReadServiceKey(napi_value value);

  enum Key : int;

 private:
  napi_value Get(napi_value object, Key key);
  bool IsObject(napi_value value);
  uint32_t U32(napi_value object, Key key, uint32_t fallback, uint32_t max = UINT32_MAX);
  uint32_t Number(napi_value value, Key key, uint32_t fallback, uint32_t max);
  template <typename T>
  std::optional<T> Optional(napi_value object, Key key);
  std::string String(napi_value object, Key key);
  ipvs::Address ToAddress(napi_value object, Key key, uint16_t family);
  [[noreturn]] void Fail(Key key, const std::string& what);

  napi_env env_;
  std::vector<napi_value> keys_;
};

// Encodes the requests (a JS array) into send buffers.
Batch PrepareBatch(Napi::Env env, const Napi::Array& requests);

Napi::Array FromFailures(Napi::Env env, const std::vector<Failure>& failures);
Napi::Object FromListing(Napi::Env env, Listing& listing);

// An Error whose `errno` is the positive errno, `kernelMessage` the extended
// ACK text, and `unavailable`/`closed` set for those two cases.
Napi::Error FromSessionError(Napi::Env env, const SessionError& error);

// legacy: removed when lib/ switches
Napi::Object FromService(Napi::Env env, const Service& service);
Napi::Object FromDestination(Napi::Env env, const Destination& destination);
Napi::Object FromDaemon(Napi::Env env, const Daemon& daemon);
Napi::Object FromTimeouts(Napi::Env env, const Timeouts& timeouts);
Napi::Object FromInfo(Napi::Env env, const Info& info);

}  // namespace ipvs
