#include "handle.h"

#include <linux/ip_vs.h>

#include <functional>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <utility>

#include "ipvs_message.h"
#include "js_convert.h"
#include "json_requests.h"
#include "listing.h"
#include "wire.h"

namespace ipvs {
namespace {

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
  Result result_{};
  std::optional<SessionError> error_;
};

Napi::Value Undefined(Napi::Env env, bool&) { return env.Undefined(); }

// executeJson()'s copy of its argument, UTF-8.
struct JsonText {
  std::unique_ptr<char[]> bytes;
  size_t length = 0;
};

Napi::Object ObjectArgument(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (info.Length() <= index || !info[index].IsObject()) throw Napi::TypeError::New(info.Env(), std::string("expected ") + what);
  return info[index].As<Napi::Object>();
}

// A service key argument; a bad one is the caller's error (TypeError).
ServiceKey ServiceKeyArgument(const Napi::CallbackInfo& info, const Napi::Value& value) {
  try {
    return ReadServiceKey(value);
  } catch (const EncodeError& e) {
    throw Napi::TypeError::New(info.Env(), std::string("invalid service key: ") + e.what());
  }
}

bool BooleanOption(const Napi::Object& options, const char* name) { return options.Get(name).ToBoolean(); }

// A GET_DEST dump of one service, each destination handed to `onMessage`.
void DumpDestinations(NetlinkSession& session, const ServiceKey& key, const std::function<void(nlmsghdr*)>& onMessage) {
  std::vector<uint8_t> request;
  Writer w(&request);
  EncodeWithServiceKey(w, IPVS_CMD_GET_DEST, key);
  session.Dump(reinterpret_cast<nlmsghdr*>(request.data()), onMessage);
}

[[noreturn]] void ThrowUnparsable(const char* what) {
  throw SessionError(SessionError::Kind::Errno, EBADMSG, std::string("the kernel sent ") + what + " that does not parse");
}

struct ListOptions {
  std::optional<ServiceKey> service;
  bool destinations = false;
  bool stats = false;
};

Listing ListServices(NetlinkSession& s, const ListOptions& options) {
  std::vector<ServiceRecord> services;
  std::vector<uint8_t> request;
  Writer w(&request);
  if (options.service) {
    EncodeWithServiceKey(w, IPVS_CMD_GET_SERVICE, *options.service);
    bool replied = false;
    s.Transact(reinterpret_cast<nlmsghdr*>(request.data()), [&](nlmsghdr* header) {
      ServiceRecord record;
      if (!DecodeService(header, &record)) ThrowUnparsable("a service");
      if (!replied) services.push_back(std::move(record));
      replied = true;
    });
    // The kernel answers an absent service with ESRCH; an ACK without a
    // reply would be a kernel that answers nothing: say it the same way.
    if (!replied) throw SessionError(SessionError::Kind::Errno, ESRCH, "the kernel sent no service");
  } else {
    w.Begin(IPVS_CMD_GET_SERVICE);
    w.End();
    // The kernel resumes a dump by position: a service added or deleted by
    // another process mid-dump can make one appear twice. Keep the first.
    std::set<std::string> seen;
    s.Dump(reinterpret_cast<nlmsghdr*>(request.data()), [&](nlmsghdr* header) {
      services.emplace_back();
      if (!DecodeService(header, &services.back())) ThrowUnparsable("a service");
      const ServiceKey& k = services.back().key;
      std::string id(reinterpret_cast<const char*>(k.address.bytes.data()), k.address.bytes.size());
      id += std::to_string(k.family) + "/" + std::to_string(k.protocol) + "/" + std::to_string(k.port) + "/" + std::to_string(k.fwmark);
      if (!seen.insert(std::move(id)).second) services.pop_back();
    });
  }
  Listing listing(options.stats);
  for (const ServiceRecord& service : services) {
    listing.AppendService(service, options.destinations);
    if (!options.destinations) continue;
    // One dump per service: a socket runs one dump at a time.
    DumpDestinations(s, service.key, [&](nlmsghdr* header) {
      if (!listing.AppendDestination(header, service.key.family, false)) ThrowUnparsable("a destination");
    });
    listing.CloseService();
  }
  listing.Finish();
  return listing;
}

std::vector<uint8_t> Command(uint8_t command) {
  std::vector<uint8_t> request;
  Writer w(&request);
  w.Begin(command);
  w.End();
  return request;
}

}  // namespace

Napi::Function Handle::Define(Napi::Env env) {
  return DefineClass(env, "Handle",
                     {
                         InstanceMethod<&Handle::Open>("open"),
                         InstanceMethod<&Handle::ExecuteJson>("executeJson"),
                         InstanceMethod<&Handle::List>("list"),
                         InstanceMethod<&Handle::ListDestinations>("listDestinations"),
                         InstanceMethod<&Handle::GetInfo>("getInfo"),
                         InstanceMethod<&Handle::GetTimeouts>("getTimeouts"),
                         InstanceMethod<&Handle::GetDaemons>("getDaemons"),
                         InstanceMethod<&Handle::ReadNetFile>("readNetFile"),
                         InstanceMethod<&Handle::Close>("close"),
                         InstanceMethod<&Handle::TestFault>("_testFault"),
                     });
}

Handle::Handle(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<Handle>(info), session_(std::make_shared<NetlinkSession>()) {}

Napi::Value Handle::Open(const Napi::CallbackInfo& info) {
  std::string netnsPath;
  if (info.Length() > 0 && info[0].IsString()) netnsPath = info[0].As<Napi::String>().Utf8Value();
  return SessionWorker<bool>::Start(
      info.Env(), session_,
      [netnsPath](NetlinkSession& s) {
        s.Open(netnsPath);
        return true;
      },
      Undefined);
}

Napi::Value Handle::ExecuteJson(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "expected a JSON text");
  // The one thing done on the main thread: a copy. A UTF-16 code unit is at
  // most 3 bytes of UTF-8, so one pass writes it (the length query is free).
  size_t units = 0;
  NAPI_THROW_IF_FAILED(env, napi_get_value_string_utf16(env, info[0], nullptr, 0, &units), Napi::Value());
  auto text = std::make_shared<JsonText>();
  text->bytes.reset(new char[units * 3 + 1]);
  NAPI_THROW_IF_FAILED(env, napi_get_value_string_utf8(env, info[0], text->bytes.get(), units * 3 + 1, &text->length),
                       Napi::Value());
  // Parsed under the session's lock like any call, so calls keep their order.
  return SessionWorker<std::vector<Failure>>::Start(
      env, session_,
      [text](NetlinkSession& s) {
        Batch batch = ParseRequestsJson(text->bytes.get(), text->length);
        text->bytes.reset();
        return s.Execute(batch);
      },
      [](Napi::Env env, std::vector<Failure>& failures) { return FromFailures(env, failures); });
}

Napi::Value Handle::List(const Napi::CallbackInfo& info) {
  Napi::Object options = ObjectArgument(info, 0, "list options");
  ListOptions o;
  Napi::Value service = options.Get("service");
  if (!service.IsUndefined() && !service.IsNull()) o.service = ServiceKeyArgument(info, service);
  o.destinations = BooleanOption(options, "destinations");
  o.stats = BooleanOption(options, "stats");
  return SessionWorker<Listing>::Start(
      info.Env(), session_, [o](NetlinkSession& s) { return ListServices(s, o); },
      [](Napi::Env env, Listing& listing) { return FromListing(env, listing); });
}

Napi::Value Handle::ListDestinations(const Napi::CallbackInfo& info) {
  ServiceKey key = ServiceKeyArgument(info, ObjectArgument(info, 0, "a service key"));
  bool stats = info.Length() > 1 && info[1].IsObject() && BooleanOption(info[1].As<Napi::Object>(), "stats");
  return SessionWorker<Listing>::Start(
      info.Env(), session_,
      [key, stats](NetlinkSession& s) {
        Listing listing(stats);
        DumpDestinations(s, key, [&](nlmsghdr* header) {
          if (!listing.AppendDestination(header, key.family, true)) ThrowUnparsable("a destination");
        });
        listing.Finish();
        return listing;
      },
      [](Napi::Env env, Listing& listing) { return FromListing(env, listing); });
}

Napi::Value Handle::GetInfo(const Napi::CallbackInfo& info) {
  return SessionWorker<Info>::Start(
      info.Env(), session_,
      [](NetlinkSession& s) {
        Info result;
        bool seen = false;
        std::vector<uint8_t> request = Command(IPVS_CMD_GET_INFO);
        s.Transact(reinterpret_cast<nlmsghdr*>(request.data()), [&](nlmsghdr* header) {
          if (!ParseInfo(header, &result)) ThrowUnparsable("IPVS info");
          seen = true;
        });
        if (!seen) throw SessionError(SessionError::Kind::Errno, EBADMSG, "the kernel sent no IPVS info");
        return result;
      },
      [](Napi::Env env, Info& result) { return FromInfo(env, result); });
}

Napi::Value Handle::GetTimeouts(const Napi::CallbackInfo& info) {
  return SessionWorker<Timeouts>::Start(
      info.Env(), session_,
      [](NetlinkSession& s) {
        Timeouts result;
        bool seen = false;
        std::vector<uint8_t> request = Command(IPVS_CMD_GET_CONFIG);
        s.Transact(reinterpret_cast<nlmsghdr*>(request.data()), [&](nlmsghdr* header) {
          if (!ParseTimeouts(header, &result)) ThrowUnparsable("timeouts");
          seen = true;
        });
        if (!seen) throw SessionError(SessionError::Kind::Errno, EBADMSG, "the kernel sent no timeouts");
        return result;
      },
      [](Napi::Env env, Timeouts& result) { return FromTimeouts(env, result); });
}

Napi::Value Handle::GetDaemons(const Napi::CallbackInfo& info) {
  return SessionWorker<std::vector<Daemon>>::Start(
      info.Env(), session_,
      [](NetlinkSession& s) {
        std::vector<Daemon> daemons;
        std::vector<uint8_t> request = Command(IPVS_CMD_GET_DAEMON);
        s.Dump(reinterpret_cast<nlmsghdr*>(request.data()), [&](nlmsghdr* header) {
          Daemon d;
          if (!ParseDaemon(header, &d)) ThrowUnparsable("a sync daemon");
          daemons.push_back(std::move(d));
        });
        return daemons;
      },
      [](Napi::Env env, std::vector<Daemon>& daemons) {
        Napi::Array array = Napi::Array::New(env, daemons.size());
        for (size_t i = 0; i < daemons.size(); ++i) array.Set(static_cast<uint32_t>(i), FromDaemon(env, daemons[i]));
        return array;
      });
}

Napi::Value Handle::ReadNetFile(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "expected a file name");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  return SessionWorker<std::string>::Start(
      info.Env(), session_, [name](NetlinkSession& s) { return s.ReadNetFile(name); },
      [](Napi::Env env, std::string& text) {
        // A Buffer that owns the text: a connection table can be 100 MB, and
        // a JS string of it would be made in one go on the event loop.
        if (text.empty()) return Napi::Buffer<char>::New(env, 0);
        auto* owned = new std::string(std::move(text));
        return Napi::Buffer<char>::NewOrCopy(env, owned->data(), owned->size(),
                                             [](Napi::Env, char*, std::string* s) { delete s; }, owned);
      });
}

Napi::Value Handle::Close(const Napi::CallbackInfo& info) {
  // Safe in every state: Close() of a session never opened, failed to open or
  // already closed does nothing; it runs after every call made before it.
  return SessionWorker<bool>::Start(
      info.Env(), session_,
      [](NetlinkSession& s) {
        s.Close();
        return true;
      },
      Undefined);
}

Napi::Value Handle::TestFault(const Napi::CallbackInfo& info) {
  Napi::Object fault = ObjectArgument(info, 0, "a fault");
  Faults faults;
  Napi::Value after = fault.Get("failDumpAfterMessages");
  if (after.IsNumber()) faults.failDumpAfterMessages = after.As<Napi::Number>().Int32Value();
  Napi::Value bytes = fault.Get("receiveBufferBytes");
  if (bytes.IsNumber()) faults.receiveBufferBytes = bytes.As<Napi::Number>().Int32Value();
  return SessionWorker<bool>::Start(
      info.Env(), session_,
      [faults](NetlinkSession& s) {
        s.SetFaults(faults);
        return true;
      },
      Undefined);
}

}  // namespace ipvs
