// The JavaScript-facing handle: one NetlinkSession, every method a Promise. Kernel work runs on libuv's thread pool; JavaScript
// values are made only on the main thread, when the work completes.
#pragma once

#include <napi.h>

#include <memory>

#include "netlink_session.h"

namespace ipvs {

class Handle : public Napi::ObjectWrap<Handle> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Handle(const Napi::CallbackInfo& info);

 private:
  // open(netnsPath?: string): Promise<void>
  Napi::Value Open(const Napi::CallbackInfo& info);
  // executeJson(json: string): Promise<RawFailure[]>
  Napi::Value ExecuteJson(const Napi::CallbackInfo& info);
  // list(options): Promise<RawListing>
  Napi::Value List(const Napi::CallbackInfo& info);
  // listCursor(options): RawCursor
  Napi::Value ListCursor(const Napi::CallbackInfo& info);
  // verify(expected: Fingerprints, options?): Promise<RawVerifyResult>
  Napi::Value Verify(const Napi::CallbackInfo& info);
  // deleteServices(owned: Fingerprints): Promise<RawDeleteServicesResult>
  Napi::Value DeleteServices(const Napi::CallbackInfo& info);
  // listDestinations(key, options): Promise<RawListing>
  Napi::Value ListDestinations(const Napi::CallbackInfo& info);
  // getInfo(): Promise<RawInfo>
  Napi::Value GetInfo(const Napi::CallbackInfo& info);
  // getTimeouts(): Promise<RawTimeouts>
  Napi::Value GetTimeouts(const Napi::CallbackInfo& info);
  // getDaemons(): Promise<RawDaemon[]>
  Napi::Value GetDaemons(const Napi::CallbackInfo& info);
  // readNetFile(name): Promise<string>, /proc/net/<name> of the handle's namespace
  Napi::Value ReadNetFile(const Napi::CallbackInfo& info);
  // close(): Promise<void>; calls already queued finish first.
  Napi::Value Close(const Napi::CallbackInfo& info);
  // _testFault(fault): Promise<void>; internal, for the kernel tests.
  Napi::Value TestFault(const Napi::CallbackInfo& info);

  std::shared_ptr<NetlinkSession> session_;
};

}  // namespace ipvs
