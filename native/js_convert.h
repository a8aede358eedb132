// JavaScript values <-> plain IPVS values. Main thread only. The TypeScript
// facade validates every field first; these checks only keep the native layer
// safe against a caller that skips the facade (they throw TypeError).
#pragma once

#include <napi.h>

#include <vector>

#include "ipvs_types.h"
#include "netlink_session.h"

namespace ipvs {

ServiceKey ToServiceKey(const Napi::Object& object);
Request ToRequest(const Napi::Object& object);

Napi::Object FromService(Napi::Env env, const Service& service);
Napi::Object FromDestination(Napi::Env env, const Destination& destination);
Napi::Object FromDaemon(Napi::Env env, const Daemon& daemon);
Napi::Object FromTimeouts(Napi::Env env, const Timeouts& timeouts);
Napi::Object FromInfo(Napi::Env env, const Info& info);
Napi::Array FromFailures(Napi::Env env, const std::vector<Failure>& failures);

// An Error whose `errno` is the positive errno, `kernelMessage` the extended
// ACK text, and `unavailable`/`closed` set for those two cases.
Napi::Error FromSessionError(Napi::Env env, const SessionError& error);

}  // namespace ipvs
