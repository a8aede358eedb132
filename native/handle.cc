#include "handle.h"

#include <functional>
#include <new>
#include <optional>
#include <utility>

#include "ipvs_message.h"
#include "js_convert.h"

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
    worker->Queue();  // the worker deletes itself when done
    return promise;
  }

 private:
  SessionWorker(Napi::Env env, std::shared_ptr<NetlinkSession> session, Work work, Convert convert)
      : Napi::AsyncWorker(env, "ipvs"),
        deferred_(Napi::Promise::Deferred::New(env)),
        session_(std::move(session)),
        work_(std::move(work)),
        convert_(std::move(convert)) {}

  void Execute() override {
    try {
      std::lock_guard<std::mutex> lock(session_->mutex);
      result_ = work_(*session_);
    } catch (const SessionError& e) {
      error_.emplace(e);
    } catch (const std::bad_alloc&) {
      error_.emplace(SessionError::Kind::Errno, ENOMEM, "out of memory");
    } catch (const std::exception& e) {
      error_.emplace(SessionError::Kind::Errno, EIO, e.what());
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
  Work work_;
  Convert convert_;
  Result result_{};
  std::optional<SessionError> error_;
};

Napi::Value Undefined(Napi::Env env, bool&) { return env.Undefined(); }

Napi::Object ObjectArgument(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (info.Length() <= index || !info[index].IsObject()) throw Napi::TypeError::New(info.Env(), std::string("expected ") + what);
  return info[index].As<Napi::Object>();
}

std::vector<Destination> DumpDestinations(NetlinkSession& session, const ServiceKey& key) {
  std::vector<Destination> destinations;
  Message request = BuildWithServiceKey(session.family(), IPVS_CMD_GET_DEST, key);
  session.Dump(request.get(), [&](nlmsghdr* header) {
    Destination d;
    if (!ParseDestination(header, key.family, &d))
      throw SessionError(SessionError::Kind::Errno, EBADMSG, "the kernel sent a destination that does not parse");
    destinations.push_back(std::move(d));
  });
  return destinations;
}

Napi::Array FromDestinations(Napi::Env env, const std::vector<Destination>& destinations) {
  Napi::Array array = Napi::Array::New(env, destinations.size());
  for (size_t i = 0; i < destinations.size(); ++i) array.Set(static_cast<uint32_t>(i), FromDestination(env, destinations[i]));
  return array;
}

}  // namespace

Napi::Function Handle::Define(Napi::Env env) {
  return DefineClass(env, "Handle",
                     {
                         InstanceMethod<&Handle::Open>("open"),
                         InstanceMethod<&Handle::Execute>("execute"),
                         InstanceMethod<&Handle::GetInfo>("getInfo"),
                         InstanceMethod<&Handle::GetServices>("getServices"),
                         InstanceMethod<&Handle::GetService>("getService"),
                         InstanceMethod<&Handle::GetDestinations>("getDestinations"),
                         InstanceMethod<&Handle::GetTimeouts>("getTimeouts"),
                         InstanceMethod<&Handle::GetDaemons>("getDaemons"),
                         InstanceMethod<&Handle::ReadNetFile>("readNetFile"),
                         InstanceMethod<&Handle::Close>("close"),
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

Napi::Value Handle::Execute(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(info.Env(), "expected an array of requests");
  Napi::Array array = info[0].As<Napi::Array>();
  auto requests = std::make_shared<std::vector<Request>>();
  requests->reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsObject()) throw Napi::TypeError::New(info.Env(), "expected request objects");
    requests->push_back(ToRequest(item.As<Napi::Object>()));
  }
  return SessionWorker<std::vector<Failure>>::Start(
      info.Env(), session_,
      [requests](NetlinkSession& s) {
        std::vector<Message> owned;
        std::vector<nl_msg*> messages;
        owned.reserve(requests->size());
        messages.reserve(requests->size());
        for (const Request& r : *requests) {
          owned.push_back(BuildRequest(s.family(), r));
          messages.push_back(owned.back().get());
        }
        return s.Execute(messages);
      },
      [](Napi::Env env, std::vector<Failure>& failures) { return FromFailures(env, failures); });
}

Napi::Value Handle::GetInfo(const Napi::CallbackInfo& info) {
  return SessionWorker<Info>::Start(
      info.Env(), session_,
      [](NetlinkSession& s) {
        Info result;
        bool seen = false;
        Message request = BuildCommand(s.family(), IPVS_CMD_GET_INFO);
        s.Transact(request.get(), [&](nlmsghdr* header) { seen = ParseInfo(header, &result) || seen; });
        if (!seen) throw SessionError(SessionError::Kind::Errno, EBADMSG, "the kernel sent no IPVS info");
        return result;
      },
      [](Napi::Env env, Info& result) { return FromInfo(env, result); });
}

Napi::Value Handle::GetServices(const Napi::CallbackInfo& info) {
  bool withDestinations = info.Length() > 0 && info[0].ToBoolean();
  return SessionWorker<std::vector<ServiceWithDestinations>>::Start(
      info.Env(), session_,
      [withDestinations](NetlinkSession& s) {
        std::vector<ServiceWithDestinations> services;
        Message request = BuildCommand(s.family(), IPVS_CMD_GET_SERVICE);
        s.Dump(request.get(), [&](nlmsghdr* header) {
          ServiceWithDestinations entry;
          if (!ParseService(header, &entry.service))
            throw SessionError(SessionError::Kind::Errno, EBADMSG, "the kernel sent a service that does not parse");
          services.push_back(std::move(entry));
        });
        // One destination dump per service: a socket runs one dump at a time.
        if (withDestinations)
          for (auto& entry : services) entry.destinations = DumpDestinations(s, entry.service.key);
        return services;
      },
      [withDestinations](Napi::Env env, std::vector<ServiceWithDestinations>& services) {
        Napi::Array array = Napi::Array::New(env, services.size());
        for (size_t i = 0; i < services.size(); ++i) {
          Napi::Object o = FromService(env, services[i].service);
          if (withDestinations) o.Set("destinations", FromDestinations(env, services[i].destinations));
          array.Set(static_cast<uint32_t>(i), o);
        }
        return array;
      });
}

Napi::Value Handle::GetService(const Napi::CallbackInfo& info) {
  ServiceKey key = ToServiceKey(ObjectArgument(info, 0, "a service key"));
  return SessionWorker<Service>::Start(
      info.Env(), session_,
      [key](NetlinkSession& s) {
        Service result;
        bool seen = false;
        Message request = BuildWithServiceKey(s.family(), IPVS_CMD_GET_SERVICE, key);
        s.Transact(request.get(), [&](nlmsghdr* header) { seen = ParseService(header, &result) || seen; });
        if (!seen) throw SessionError(SessionError::Kind::Errno, ESRCH, "no such service");
        return result;
      },
      [](Napi::Env env, Service& result) { return FromService(env, result); });
}

Napi::Value Handle::GetDestinations(const Napi::CallbackInfo& info) {
  ServiceKey key = ToServiceKey(ObjectArgument(info, 0, "a service key"));
  return SessionWorker<std::vector<Destination>>::Start(
      info.Env(), session_, [key](NetlinkSession& s) { return DumpDestinations(s, key); },
      [](Napi::Env env, std::vector<Destination>& result) { return FromDestinations(env, result); });
}

Napi::Value Handle::GetTimeouts(const Napi::CallbackInfo& info) {
  return SessionWorker<Timeouts>::Start(
      info.Env(), session_,
      [](NetlinkSession& s) {
        Timeouts result;
        bool seen = false;
        Message request = BuildCommand(s.family(), IPVS_CMD_GET_CONFIG);
        s.Transact(request.get(), [&](nlmsghdr* header) { seen = ParseTimeouts(header, &result) || seen; });
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
        Message request = BuildCommand(s.family(), IPVS_CMD_GET_DAEMON);
        s.Dump(request.get(), [&](nlmsghdr* header) {
          Daemon d;
          if (ParseDaemon(header, &d)) daemons.push_back(std::move(d));
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
      [](Napi::Env env, std::string& text) { return Napi::String::New(env, text); });
}

Napi::Value Handle::Close(const Napi::CallbackInfo& info) {
  return SessionWorker<bool>::Start(
      info.Env(), session_,
      [](NetlinkSession& s) {
        s.Close();
        return true;
      },
      Undefined);
}

}  // namespace ipvs
