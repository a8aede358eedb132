#include "js_convert.h"

#include <arpa/inet.h>
#include <linux/ip_vs.h>
#include <sys/socket.h>

#include <limits>
#include <string>

namespace ipvs {
namespace {

[[noreturn]] void Fail(const Napi::Env& env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

uint32_t U32(const Napi::Object& o, const char* name, uint32_t fallback = 0) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsNumber()) Fail(o.Env(), std::string("expected a number for ") + name);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d)))
    Fail(o.Env(), std::string("expected an unsigned 32-bit integer for ") + name);
  return static_cast<uint32_t>(d);
}

uint16_t U16(const Napi::Object& o, const char* name, uint16_t fallback = 0) {
  uint32_t v = U32(o, name, fallback);
  if (v > 0xffff) Fail(o.Env(), std::string("expected an unsigned 16-bit integer for ") + name);
  return static_cast<uint16_t>(v);
}

template <typename T>
std::optional<T> Optional(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  uint32_t value = U32(o, name);
  if (value > std::numeric_limits<T>::max()) Fail(o.Env(), std::string("value out of range for ") + name);
  return static_cast<T>(value);
}

std::string String(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined() || v.IsNull()) return "";
  if (!v.IsString()) Fail(o.Env(), std::string("expected a string for ") + name);
  return v.As<Napi::String>().Utf8Value();
}

Address ToAddress(const Napi::Object& o, const char* name, uint16_t family) {
  Address a;
  a.family = family;
  std::string text = String(o, name);
  if (text.empty()) return a;  // the all-zero address (fwmark services)
  if (inet_pton(family == AF_INET6 ? AF_INET6 : AF_INET, text.c_str(), a.bytes.data()) != 1)
    Fail(o.Env(), std::string("invalid address for ") + name + ": " + text);
  return a;
}

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

ServiceKey ToServiceKey(const Napi::Object& o) {
  ServiceKey key;
  key.family = U16(o, "family");
  if (key.family != AF_INET && key.family != AF_INET6) Fail(o.Env(), "family must be AF_INET or AF_INET6");
  key.fwmark = U32(o, "fwmark");
  key.protocol = U16(o, "protocol");
  key.address = ToAddress(o, "address", key.family);
  key.port = U16(o, "port");
  return key;
}

Request ToRequest(const Napi::Object& o) {
  Request r;
  r.command = static_cast<uint8_t>(U32(o, "command"));
  if (r.command == 0 || r.command > IPVS_CMD_MAX) Fail(o.Env(), "invalid command");
  r.serviceKeyOnly = o.Get("keyOnly").ToBoolean();
  Napi::Value service = o.Get("service");
  if (service.IsObject()) {
    Napi::Object s = service.As<Napi::Object>();
    Service svc;
    svc.key = ToServiceKey(s);
    svc.scheduler = String(s, "scheduler");
    svc.flags = U32(s, "flags");
    svc.timeout = U32(s, "timeout");
    svc.netmask = U32(s, "netmask", svc.key.family == AF_INET ? 0xffffffffU : 128);
    svc.persistenceEngine = String(s, "persistenceEngine");
    r.service = std::move(svc);
  }
  Napi::Value destination = o.Get("destination");
  if (destination.IsObject()) {
    Napi::Object d = destination.As<Napi::Object>();
    Destination dest;
    uint16_t family = U16(d, "family");
    if (family != AF_INET && family != AF_INET6) Fail(o.Env(), "destination family must be AF_INET or AF_INET6");
    dest.address = ToAddress(d, "address", family);
    dest.port = U16(d, "port");
    dest.forwardingMethod = U32(d, "forwardingMethod");
    dest.weight = U32(d, "weight");
    dest.upperThreshold = U32(d, "upperThreshold");
    dest.lowerThreshold = U32(d, "lowerThreshold");
    dest.tunnelType = Optional<uint8_t>(d, "tunnelType");
    dest.tunnelPort = Optional<uint16_t>(d, "tunnelPort");
    dest.tunnelFlags = Optional<uint16_t>(d, "tunnelFlags");
    r.destination = std::move(dest);
  }
  Napi::Value daemon = o.Get("daemon");
  if (daemon.IsObject()) {
    Napi::Object d = daemon.As<Napi::Object>();
    Daemon dm;
    dm.state = U32(d, "state");
    dm.multicastInterface = String(d, "multicastInterface");
    dm.syncId = U32(d, "syncId");
    dm.syncMaxLen = Optional<uint16_t>(d, "syncMaxLen");
    Napi::Value group = d.Get("multicastGroup");
    if (group.IsString()) {
      std::string text = group.As<Napi::String>().Utf8Value();
      dm.multicastGroup = ToAddress(d, "multicastGroup", text.find(':') != std::string::npos ? AF_INET6 : AF_INET);
    }
    dm.multicastPort = Optional<uint16_t>(d, "multicastPort");
    dm.multicastTtl = Optional<uint8_t>(d, "multicastTtl");
    r.daemon = std::move(dm);
  }
  Napi::Value timeouts = o.Get("timeouts");
  if (timeouts.IsObject()) {
    Napi::Object t = timeouts.As<Napi::Object>();
    r.timeouts = Timeouts{U32(t, "tcp"), U32(t, "tcpFin"), U32(t, "udp")};
  }
  return r;
}

Napi::Object FromService(Napi::Env env, const Service& s) {
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

Napi::Object FromDestination(Napi::Env env, const Destination& d) {
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
  o.Set("multicastInterface", d.multicastInterface);
  o.Set("syncId", d.syncId);
  o.Set("syncMaxLen", OptionalNumber(env, d.syncMaxLen));
  o.Set("multicastGroup", d.multicastGroup ? Napi::Value(Napi::String::New(env, AddressText(*d.multicastGroup)))
                                           : env.Undefined());
  o.Set("multicastPort", OptionalNumber(env, d.multicastPort));
  o.Set("multicastTtl", OptionalNumber(env, d.multicastTtl));
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

Napi::Array FromFailures(Napi::Env env, const std::vector<Failure>& failures) {
  Napi::Array array = Napi::Array::New(env, failures.size());
  for (size_t i = 0; i < failures.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", failures[i].index);
    o.Set("errno", failures[i].error);
    if (!failures[i].extack.empty()) o.Set("kernelMessage", failures[i].extack);
    array.Set(static_cast<uint32_t>(i), o);
  }
  return array;
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
