// JavaScript values <-> plain IPVS values. Main thread only. The TypeScript
// facade validates every field first; these checks keep the native layer
// safe against a caller that skips it. (Change requests do not come this way:
// they arrive as JSON text, see json_requests.h.)
#pragma once

#include <napi.h>

#include <vector>

#include "ipvs_types.h"
#include "listing.h"
#include "netlink_session.h"

namespace ipvs {

// A RawServiceKey (list() and listDestinations() arguments). Throws
// EncodeError(EINVAL) for a value that is not a valid key.
ServiceKey ReadServiceKey(const Napi::Value& value);

Napi::Array FromFailures(Napi::Env env, const std::vector<Failure>& failures);
Napi::Object FromListing(Napi::Env env, Listing& listing);
// release(view): frees a listing's chunk text or counters now that JS has
// read them (detaches the ArrayBuffer), rather than when the GC next finds the
// view: a stream of batches otherwise keeps several batches' texts alive
// between two scavenges. The view is empty afterwards.
Napi::Value Release(const Napi::CallbackInfo& info);

// An Error whose `errno` is the positive errno, `kernelMessage` the extended
// ACK text, and `unavailable`/`closed` set for those two cases.
Napi::Error FromSessionError(Napi::Env env, const SessionError& error);

Napi::Object FromDaemon(Napi::Env env, const Daemon& daemon);
Napi::Object FromTimeouts(Napi::Env env, const Timeouts& timeouts);
Napi::Object FromInfo(Napi::Env env, const Info& info);

}  // namespace ipvs
