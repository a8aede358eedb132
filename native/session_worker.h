// The one way a handle's call runs: `work` on libuv's thread pool, in the
// session's call order (a numbered turn taken on the main thread), below the
// event loop's priority (worker_priority.h), then `convert` on the main
// thread to settle a Promise.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <system_error>
#include <utility>

#include "js_convert.h"
#include "netlink_session.h"
#include "wire.h"
#include "worker_priority.h"

namespace ipvs {

// Runs `work` on the thread pool with the session locked, then `convert` on
// the main thread; settles a Promise with the outcome.
template <typename Result>
class SessionWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result(NetlinkSession&)>;
  using Convert = std::function<Napi::Value(Napi::Env, Result&)>;

  static Napi::Promise Start(Napi::Env env, std::shared_ptr<NetlinkSession> session, Work work, Convert convert) {
    auto* worker = new SessionWorker(env, std::move(session), std::move(work), std::move(convert));
    Napi::Promise promise = worker->deferred_.Promise();
    try {
      worker->Queue();  // the worker deletes itself when done
    } catch (...) {
      worker->session_->turns.GiveBack();
      delete worker;
      throw;
    }
    return promise;
  }

 private:
  SessionWorker(Napi::Env env, std::shared_ptr<NetlinkSession> session, Work work, Convert convert)
      : Napi::AsyncWorker(env, "ipvs"),
        deferred_(Napi::Promise::Deferred::New(env)),
        session_(std::move(session)),
        turn_(session_->turns.Take()),
        work_(std::move(work)),
        convert_(std::move(convert)) {}

  void Execute() override {
    using Kind = SessionError::Kind;
    try {
      NetlinkSession::Turns::Hold hold(session_->turns, turn_);
      BelowEventLoop below(session_->workerNice());
      result_ = work_(*session_);
    } catch (const SessionError& e) {
      error_.emplace(e);
    } catch (const EncodeError& e) {
      error_.emplace(Kind::Errno, e.error, e.what());
    } catch (const std::bad_alloc&) {
      error_.emplace(Kind::Errno, ENOMEM, "out of memory");
    } catch (const std::system_error& e) {
      // e.g. std::thread failing to start: its code is an errno.
      int code = e.code().category() == std::generic_category() || e.code().category() == std::system_category()
                     ? e.code().value()
                     : EIO;
      error_.emplace(Kind::Errno, code > 0 ? code : EIO, e.what());
    } catch (const std::exception& e) {
      error_.emplace(Kind::Errno, EIO, e.what());
    }
  }

  void OnOK() override {
    if (error_) {
      deferred_.Reject(FromSessionError(Env(), *error_).Value());
      return;
    }
    try {
      deferred_.Resolve(convert_(Env(), result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

  Napi::Promise::Deferred deferred_;
  std::shared_ptr<NetlinkSession> session_;
  uint64_t turn_;
  Work work_;
  Convert convert_;
  Result result_ = Result();
  std::optional<SessionError> error_;
};

}  // namespace ipvs
