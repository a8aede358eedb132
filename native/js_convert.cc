#include "js_convert.h"

#include <arpa/inet.h>
#include <linux/ip_vs.h>
#include <sys/socket.h>

#include <cstring>
#include <limits>
#include <string>

#include "wire.h"

namespace ipvs {

enum RequestReader::Key : int {
  kCommand, kService, kKeyOnly, kDestination, kDaemon, kTimeouts,
  kFamily, kFwmark, kProtocol, kAddress, kPort,
  kScheduler, kFlags, kTimeout, kNetmask, kPersistenceEngine,
  kForwarding, kWeight, kUpperThreshold, kLowerThreshold, kTunnelType, kTunnelPort, kTunnelFlags,
  kState, kInterface, kSyncId, kMaxLength, kGroup, kTtl,
  kTcp, kTcpFin, kUdp,
  kKeyCount
};

namespace {

const char* const kKeyNames[RequestReader::kKeyCount] = {
    "command", "service", "keyOnly", "destination", "daemon", "timeouts",
    "family", "fwmark", "protocol", "address", "port",
    "scheduler", "flags", "timeout", "netmask", "persistenceEngine",
    "forwarding", "weight", "upperThreshold", "lowerThreshold", "tunnelType", "tunnelPort", "tunnelFlags",
    "state", "interface", "syncId", "maxLength", "group", "ttl",
    "tcp", "tcpFin", "udp",
};

std::string AddressText(const Address& a) {
  char text[INET6_ADDRSTRLEN] = "";
  inet_ntop(a.family == AF_INET6 ? AF_INET6 : AF_INET, a.bytes.data(), text, sizeof(text));
  return text;
}

Napi::Value FromStats(Napi::Env env, const std::optional<Stats>& stats) {
  if (!stats) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("conns", Napi::BigInt::New(env, stats->conns));
  o.Set("inpkts", Napi::BigInt::New(env, stats->inpkts));
  o.Set("outpkts", Napi::BigInt::New(env, stats->outpkts));
  o.Set("inbytes", Napi::BigInt::New(env, stats->inbytes));
  o.Set("outbytes", Napi::BigInt::New(env, stats->outbytes));
  o.Set("cps", Napi::BigInt::New(env, stats->cps));
  o.Set("inpps", Napi::BigInt::New(env, stats->inpps));
  o.Set("outpps", Napi::BigInt::New(env, stats->outpps));
  o.Set("inbps", Napi::BigInt::New(env, stats->inbps));
  o.Set("outbps", Napi::BigInt::New(env, stats->outbps));
  return o;
}

template <typename T>
Napi::Value OptionalNumber(Napi::Env env, const std::optional<T>& v) {
  return v ? Napi::Number::New(env, *v) : env.Undefined();
}

}  // namespace

RequestReader::RequestReader(napi_env env) : env_(env), keys_(kKeyCount) {
  // Property keys that V8 has internalized look up several times faster than
  // fresh strings (which V8 internalizes again on every lookup): the names
  // of an object's own properties are internalized, so take them from one.
  napi_value names = nullptr, holder = nullptr;
  uint32_t count = 0;
  bool ok = napi_create_object(env, &holder) == napi_ok;
  for (int k = 0; ok && k < kKeyCount; ++k) {
    napi_value index;
    ok = napi_create_uint32(env, k, &index) == napi_ok && napi_set_named_property(env, holder, kKeyNames[k], index) == napi_ok;
  }
  ok = ok && napi_get_property_names(env, holder, &names) == napi_ok && napi_get_array_length(env, names, &count) == napi_ok &&
       count == kKeyCount;
  for (uint32_t i = 0; ok && i < count; ++i) {
    napi_value name, index;
    uint32_t k = 0;
    ok = napi_get_element(env, names, i, &name) == napi_ok && napi_get_property(env, holder, name, &index) == napi_ok &&
         napi_get_value_uint32(env, index, &k) == napi_ok && k < kKeyCount;
    if (ok) keys_[k] = name;
  }
  if (!ok) throw Napi::Error::New(env, "cannot create property names");
}

void RequestReader::Fail(Key key, const std::string& what) {
  throw EncodeError(EINVAL, std::string(kKeyNames[key]) + ": " + what);
}

napi_value RequestReader::Get(napi_value object, Key key) {
  napi_value value;
  if (napi_get_property(env_, object, keys_[key], &value) != napi_ok) {
    // A getter threw: the request is invalid, and the exception must not
    // stay pending (prepare() does not throw for a bad request).
    bool pending = false;
    napi_is_exception_pending(env_, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env_, &ignored);
    }
    Fail(key, "reading it threw");
  }
  return value;
}

bool RequestReader::IsObject(napi_value value) {
  napi_valuetype type;
  return napi_typeof(env_, value, &type) == napi_ok && type == napi_object;
}

namespace {
bool Absent(napi_env env, napi_value value) {
  napi_valuetype type;
  return napi_typeof(env, value, &type) != napi_ok || type == napi_undefined || type == napi_null;
}
}  // namespace

uint32_t RequestReader::U32(napi_value object, Key key, uint32_t fallback, uint32_t max) {
  return Number(Get(object, key), key, fallback, max);
}

uint32_t RequestReader::Number(napi_value value, Key key, uint32_t fallback, uint32_t max) {
  double d;
  // The common case (a number) costs one call; typeof only on the others.
  if (napi_get_value_double(env_, value, &d) != napi_ok) {
    if (Absent(env_, value)) return fallback;
    Fail(key, "expected a number");
  }
  if (!(d >= 0 && d <= max) || d != static_cast<double>(static_cast<uint32_t>(d)))
    Fail(key, "expected an integer from 0 to " + std::to_string(max));
  return static_cast<uint32_t>(d);
}

template <typename T>
std::optional<T> RequestReader::Optional(napi_value object, Key key) {
  napi_value value = Get(object, key);
  if (Absent(env_, value)) return std::nullopt;
  return static_cast<T>(Number(value, key, 0, std::numeric_limits<T>::max()));
}

std::string RequestReader::String(napi_value object, Key key) {
  napi_value value = Get(object, key);
  // Short strings (names, addresses) are copied through a stack buffer.
  char small[64];
  size_t length = 0;
  if (napi_get_value_string_utf8(env_, value, small, sizeof(small), &length) != napi_ok) {
    if (Absent(env_, value)) return "";
    Fail(key, "expected a string");
  }
  std::string text;
  if (length < sizeof(small) - 1) {
    text.assign(small, length);
  } else {
    napi_get_value_string_utf8(env_, value, nullptr, 0, &length);
    text.resize(length);
    napi_get_value_string_utf8(env_, value, text.data(), length + 1, &length);
  }
  // The kernel would stop at a NUL and read another name than the one given.
  if (text.find('\0') != std::string::npos) Fail(key, "contains a NUL character");
  return text;
}

Address RequestReader::ToAddress(napi_value object, Key key, uint16_t family) {
  Address a;
  a.family = family;
  std::string text = String(object, key);
  if (text.empty()) return a;  // the all-zero address (fwmark services)
  if (inet_pton(family == AF_INET6 ? AF_INET6 : AF_INET, text.c_str(), a.bytes.data()) != 1)
    Fail(key, "invalid " + std::string(family == AF_INET6 ? "IPv6" : "IPv4") + " address '" + text + "'");
  return a;
}

ServiceKey RequestReader::ReadServiceKey(napi_value o) {
  ServiceKey key;
  key.family = static_cast<uint16_t>(U32(o, kFamily, 0, 0xffff));
  if (key.family != AF_INET && key.family != AF_INET6) Fail(kFamily, "must be AF_INET or AF_INET6");
  key.fwmark = U32(o, kFwmark, 0);
  key.protocol = static_cast<uint16_t>(U32(o, kProtocol, 0, 0xffff));
  key.address = ToAddress(o, kAddress, key.family);
  key.port = static_cast<uint16_t>(U32(o, kPort, 0, 0xffff));
  return key;
}

Request RequestReader::Read(napi_value o) {
  if (!IsObject(o)) throw EncodeError(EINVAL, "a request must be an object");
  Request r;
  r.command = static_cast<uint8_t>(U32(o, kCommand, 0, IPVS_CMD_MAX));
  if (r.command == 0) Fail(kCommand, "expected an IPVS command");
  napi_value keyOnly = Get(o, kKeyOnly);
  bool flag = false;
  if (napi_coerce_to_bool(env_, keyOnly, &keyOnly) == napi_ok) napi_get_value_bool(env_, keyOnly, &flag);
  r.serviceKeyOnly = flag;

  napi_value service = Get(o, kService);
  if (IsObject(service)) {
    Service svc;
    svc.key = ReadServiceKey(service);
    // Only the key is sent with a destination or with keyOnly: the other
    // fields are not read (nor checked).
    const bool keyOnly = r.serviceKeyOnly || r.command == IPVS_CMD_NEW_DEST || r.command == IPVS_CMD_SET_DEST ||
                         r.command == IPVS_CMD_DEL_DEST;
    if (!keyOnly) {
      svc.scheduler = String(service, kScheduler);
      svc.flags = U32(service, kFlags, 0);
      svc.timeout = U32(service, kTimeout, 0);
      svc.netmask = U32(service, kNetmask, svc.key.family == AF_INET ? 0xffffffffU : 128);
      svc.persistenceEngine = String(service, kPersistenceEngine);
    }
    r.service = std::move(svc);
  } else if (!Absent(env_, service)) {
    Fail(kService, "expected an object");
  }

  napi_value destination = Get(o, kDestination);
  if (IsObject(destination)) {
    Destination d;
    uint16_t family = static_cast<uint16_t>(U32(destination, kFamily, 0, 0xffff));
    if (family != AF_INET && family != AF_INET6) Fail(kFamily, "destination family must be AF_INET or AF_INET6");
    d.address = ToAddress(destination, kAddress, family);
    d.port = static_cast<uint16_t>(U32(destination, kPort, 0, 0xffff));
    d.forwardingMethod = U32(destination, kForwarding, 0);
    d.weight = U32(destination, kWeight, 0);
    d.upperThreshold = U32(destination, kUpperThreshold, 0);
    d.lowerThreshold = U32(destination, kLowerThreshold, 0);
    d.tunnelType = Optional<uint8_t>(destination, kTunnelType);
    d.tunnelPort = Optional<uint16_t>(destination, kTunnelPort);
    d.tunnelFlags = Optional<uint16_t>(destination, kTunnelFlags);
    r.destination = std::move(d);
  } else if (!Absent(env_, destination)) {
    Fail(kDestination, "expected an object");
  }

  napi_value daemon = Get(o, kDaemon);
  if (IsObject(daemon)) {
    Daemon d;
    d.state = U32(daemon, kState, 0);
    d.multicastInterface = String(daemon, kInterface);
    d.syncId = U32(daemon, kSyncId, 0);
    d.syncMaxLen = Optional<uint16_t>(daemon, kMaxLength);
    std::string group = String(daemon, kGroup);
    if (!group.empty())
      d.multicastGroup = ToAddress(daemon, kGroup, group.find(':') != std::string::npos ? AF_INET6 : AF_INET);
    d.multicastPort = Optional<uint16_t>(daemon, kPort);
    d.multicastTtl = Optional<uint8_t>(daemon, kTtl);
    r.daemon = std::move(d);
  } else if (!Absent(env_, daemon)) {
    Fail(kDaemon, "expected an object");
  }

  napi_value timeouts = Get(o, kTimeouts);
  if (IsObject(timeouts)) {
    r.timeouts = Timeouts{U32(timeouts, kTcp, 0), U32(timeouts, kTcpFin, 0), U32(timeouts, kUdp, 0)};
  } else if (!Absent(env_, timeouts)) {
    Fail(kTimeouts, "expected an object");
  }
  return r;
}

Batch PrepareBatch(Napi::Env env, const Napi::Array& requests) {
  BatchBuilder builder;
  RequestReader reader(env);
  const uint32_t count = requests.Length();
  for (uint32_t i = 0; i < count; ++i) {
    try {
      napi_value item;
      if (napi_get_element(env, requests, i, &item) != napi_ok) {
        bool pending = false;
        napi_is_exception_pending(env, &pending);
        if (pending) {
          napi_value ignored;
          napi_get_and_clear_last_exception(env, &ignored);
        }
        throw EncodeError(EINVAL, "reading the request threw");
      }
      builder.Add(i, reader.Read(item));
    } catch (const EncodeError& e) {
      builder.AddInvalid(i, e.error, e.what());
    }
  }
  return builder.Finish();
}

Napi::Array FromFailures(Napi::Env env, const std::vector<Failure>& failures) {
  static const char* const kOutcomes[] = {"refused", "unknown", "unsent", "invalid"};
  Napi::Array array = Napi::Array::New(env, failures.size());
  for (size_t i = 0; i < failures.size(); ++i) {
    const Failure& f = failures[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", f.index);
    o.Set("errno", f.error);
    o.Set("outcome", kOutcomes[static_cast<int>(f.outcome)]);
    if (!f.extack.empty()) o.Set("kernelMessage", f.extack);
    if (!f.message.empty()) o.Set("message", f.message);
    array.Set(static_cast<uint32_t>(i), o);
  }
  return array;
}

Napi::Object FromListing(Napi::Env env, Listing& listing) {
  Napi::Array chunks = Napi::Array::New(env, listing.chunks.size());
  for (size_t i = 0; i < listing.chunks.size(); ++i) {
    Listing::Chunk& chunk = listing.chunks[i];
    napi_value text;
    napi_status status = chunk.ascii
                             ? napi_create_string_latin1(env, chunk.text.data(), chunk.text.size(), &text)
                             : napi_create_string_utf8(env, chunk.text.data(), chunk.text.size(), &text);
    NAPI_THROW_IF_FAILED(env, status, Napi::Object());
    chunks.Set(static_cast<uint32_t>(i), text);
    std::string().swap(chunk.text);  // free as we go: listings can be tens of MB
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("chunks", chunks);
  if (listing.withStats()) {
    auto stats = Napi::BigUint64Array::New(env, listing.counters.size());
    if (!listing.counters.empty())
      std::memcpy(stats.Data(), listing.counters.data(), listing.counters.size() * sizeof(uint64_t));
    result.Set("stats", stats);
  } else {
    result.Set("stats", env.Null());
  }
  return result;
}

Napi::Object FromService(Napi::Env env, const Service& s) {  // legacy: removed when lib/ switches
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", s.key.family);
  o.Set("protocol", s.key.protocol);
  o.Set("address", AddressText(s.key.address));
  o.Set("port", s.key.port);
  o.Set("fwmark", s.key.fwmark);
  o.Set("scheduler", s.scheduler);
  o.Set("flags", s.flags);
  o.Set("timeout", s.timeout);
  o.Set("netmask", s.netmask);
  o.Set("persistenceEngine", s.persistenceEngine);
  o.Set("stats", FromStats(env, s.stats));
  o.Set("stats64", s.stats64);
  return o;
}

Napi::Object FromDestination(Napi::Env env, const Destination& d) {  // legacy: removed when lib/ switches
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", d.address.family);
  o.Set("address", AddressText(d.address));
  o.Set("port", d.port);
  o.Set("forwardingMethod", d.forwardingMethod);
  o.Set("weight", d.weight);
  o.Set("upperThreshold", d.upperThreshold);
  o.Set("lowerThreshold", d.lowerThreshold);
  o.Set("tunnelType", OptionalNumber(env, d.tunnelType));
  o.Set("tunnelPort", OptionalNumber(env, d.tunnelPort));
  o.Set("tunnelFlags", OptionalNumber(env, d.tunnelFlags));
  o.Set("activeConns", d.activeConns);
  o.Set("inactiveConns", d.inactiveConns);
  o.Set("persistentConns", d.persistentConns);
  o.Set("stats", FromStats(env, d.stats));
  o.Set("stats64", d.stats64);
  return o;
}

Napi::Object FromDaemon(Napi::Env env, const Daemon& d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("state", d.state);
  o.Set("interface", d.multicastInterface);
  o.Set("syncId", d.syncId);
  o.Set("maxLength", OptionalNumber(env, d.syncMaxLen));
  o.Set("group", d.multicastGroup ? Napi::Value(Napi::String::New(env, AddressText(*d.multicastGroup)))
                                  : env.Undefined());
  o.Set("port", OptionalNumber(env, d.multicastPort));
  o.Set("ttl", OptionalNumber(env, d.multicastTtl));
  return o;
}

Napi::Object FromTimeouts(Napi::Env env, const Timeouts& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("tcp", t.tcp);
  o.Set("tcpFin", t.tcpFin);
  o.Set("udp", t.udp);
  return o;
}

Napi::Object FromInfo(Napi::Env env, const Info& info) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", info.version);
  o.Set("connTableSize", info.connTableSize);
  return o;
}

Napi::Error FromSessionError(Napi::Env env, const SessionError& e) {
  Napi::Error error = Napi::Error::New(env, e.what());
  error.Set("errno", Napi::Number::New(env, e.error));
  if (!e.extack.empty()) error.Set("kernelMessage", Napi::String::New(env, e.extack));
  if (e.kind == SessionError::Kind::IpvsUnavailable) error.Set("unavailable", Napi::Boolean::New(env, true));
  if (e.kind == SessionError::Kind::Closed) error.Set("closed", Napi::Boolean::New(env, true));
  return error;
}

}  // namespace ipvs
