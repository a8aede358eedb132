#include "handle.h"

#include <linux/ip_vs.h>

#include <functional>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <utility>

#include "addon_data.h"
#include "batch.h"
#include "cursor.h"
#include "dumps.h"
#include "fingerprint.h"
#include "fingerprints.h"
#include "ipvs_message.h"
#include "js_convert.h"
#include "json_requests.h"
#include "listing.h"
#include "session_worker.h"
#include "verify.h"
#include "wire.h"

namespace ipvs {
namespace {

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

// A cursor's batch: the services of one RawListing at most.
constexpr uint32_t kMaxBatchSize = 65536;

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
    services = DumpServices(s);
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
                         InstanceMethod<&Handle::ListCursor>("listCursor"),
                         InstanceMethod<&Handle::Verify>("verify"),
                         InstanceMethod<&Handle::DeleteServices>("deleteServices"),
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
  int workerNice = kDefaultWorkerNice;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsNumber()) throw Napi::TypeError::New(info.Env(), "workerNice must be an integer from 0 to 19");
    double value = info[1].As<Napi::Number>().DoubleValue();
    if (!(value >= 0 && value <= 19) || value != static_cast<int>(value))
      throw Napi::RangeError::New(info.Env(), "workerNice must be an integer from 0 to 19");
    workerNice = static_cast<int>(value);
  }
  // Before the open is queued: the open's own thread runs at it too.
  session_->SetWorkerNice(workerNice);
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

Napi::Value Handle::ListCursor(const Napi::CallbackInfo& info) {
  Napi::Object options = ObjectArgument(info, 0, "list cursor options");
  CursorState o;
  o.destinations = BooleanOption(options, "destinations");
  o.stats = BooleanOption(options, "stats");
  Napi::Value size = options.Get("batchSize");
  double d = size.IsNumber() ? size.As<Napi::Number>().DoubleValue() : 0;
  if (!(d >= 1 && d <= kMaxBatchSize) || d != static_cast<double>(static_cast<uint32_t>(d)))
    throw Napi::TypeError::New(info.Env(), "batchSize: expected an integer from 1 to " + std::to_string(kMaxBatchSize));
  o.batchSize = static_cast<uint32_t>(d);
  return Cursor::New(info.Env(), session_, o);
}

Napi::Value Handle::Verify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(AddonDataOf(env).fingerprints.Value()))
    throw Napi::TypeError::New(env, "expected: an addon.Fingerprints");
  bool withFingerprints = false;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsObject()) throw Napi::TypeError::New(env, "expected verify options (an object)");
    withFingerprints = BooleanOption(info[1].As<Napi::Object>(), "fingerprints");
  }
  // Copy on write: the worker reads this snapshot, JS may change the table meanwhile.
  std::shared_ptr<const FingerprintTable> expected = Fingerprints::Unwrap(info[0].As<Napi::Object>())->Snapshot();
  return SessionWorker<VerifyResult>::Start(
      env, session_, [expected, withFingerprints](NetlinkSession& s) { return ipvs::Verify(s, *expected, withFingerprints); },
      [](Napi::Env env, VerifyResult& result) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("differing", FromListing(env, result.differing));
        o.Set("unexpected", FromListing(env, result.unexpected));
        Napi::Array missing = Napi::Array::New(env, result.missing.size());
        for (size_t i = 0; i < result.missing.size(); ++i) missing.Set(static_cast<uint32_t>(i), result.missing[i]);
        o.Set("missing", missing);
        if (result.withFingerprints) {
          Napi::Object fingerprints = Napi::Object::New(env);
          for (const auto& entry : result.fingerprints) fingerprints.Set(entry.first, entry.second);
          o.Set("fingerprints", fingerprints);
        }
        return o;
      });
}

namespace {

// What deleteServices() did: the requests not applied, and the service id of each.
struct DeletedServices {
  std::vector<Failure> failures;
  std::vector<std::string> ids;
};

}  // namespace

Napi::Value Handle::DeleteServices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(AddonDataOf(env).fingerprints.Value()))
    throw Napi::TypeError::New(env, "expected: an addon.Fingerprints");
  // Copy on write, as verify(): the worker deletes the services of this snapshot.
  std::shared_ptr<const FingerprintTable> owned = Fingerprints::Unwrap(info[0].As<Napi::Object>())->Snapshot();
  return SessionWorker<DeletedServices>::Start(
      env, session_,
      [owned](NetlinkSession& s) {
        // One DEL_SERVICE per id, encoded here: no request crosses from JavaScript.
        std::vector<const std::string*> order;
        order.reserve(owned->size());
        BatchBuilder builder;
        Request request;
        request.command = IPVS_CMD_DEL_SERVICE;
        request.serviceKeyOnly = true;
        request.service.emplace();
        for (const auto& entry : *owned) {
          const uint32_t index = static_cast<uint32_t>(order.size());
          order.push_back(&entry.first);
          if (ParseServiceId(entry.first, &request.service->key)) builder.Add(index, request);
          else builder.AddInvalid(index, EINVAL, "not a service id: '" + entry.first + "'");
        }
        DeletedServices deleted;
        Batch batch = builder.Finish();
        deleted.failures = s.Execute(batch);
        deleted.ids.reserve(deleted.failures.size());
        for (const Failure& f : deleted.failures) deleted.ids.push_back(*order[f.index]);
        return deleted;
      },
      [](Napi::Env env, DeletedServices& deleted) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("failures", FromFailures(env, deleted.failures));
        Napi::Array ids = Napi::Array::New(env, deleted.ids.size());
        for (size_t i = 0; i < deleted.ids.size(); ++i) ids.Set(static_cast<uint32_t>(i), deleted.ids[i]);
        o.Set("ids", ids);
        return o;
      });
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
