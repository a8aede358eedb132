// The health checks' probe engine: TCP connect and plain HTTP checks run on
// one thread of their own (an epoll loop over non-blocking sockets), not
// through Node's sockets, whose handles, streams, events and promises cost
// more than the connection itself at 10,000 checks a second. JavaScript starts
// a run with one call (start), and results come back in batches (one
// JavaScript call carrying many), turned in JavaScript (lib/health/probes/
// native.ts) into the same results and reasons the JavaScript probes give.
#pragma once

#include <napi.h>

#include <memory>

namespace ipvs {

struct EngineState;

class ProbeEngine : public Napi::ObjectWrap<ProbeEngine> {
 public:
  static Napi::Function Define(Napi::Env env);
  // new ProbeEngine(onResults(results: Uint32Array, details: Array<string | undefined> | undefined))
  explicit ProbeEngine(const Napi::CallbackInfo& info);
  ~ProbeEngine() override;

 private:
  // start(id, kind: 'tcp' | 'http', address, port, timeoutMs, request?: string): void
  Napi::Value Start(const Napi::CallbackInfo& info);
  // cancel(id): void; no result comes for it afterwards.
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  // stop(): void; the engine thread has exited when it returns, and no callback comes after it.
  Napi::Value Stop(const Napi::CallbackInfo& info);

  void StopNow();

  // Shared with the thread-safe function's callback and finalizer, which may outlive this object.
  std::shared_ptr<EngineState> state_;
};

}  // namespace ipvs
