#include "js_convert.h"

#include <arpa/inet.h>
#include <linux/ip_vs.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

#include "wire.h"

namespace ipvs {
namespace {

std::string AddressText(const Address& a) {
  char text[INET6_ADDRSTRLEN] = "";
  inet_ntop(a.family == AF_INET6 ? AF_INET6 : AF_INET, a.bytes.data(), text, sizeof(text));
  return text;
}

template <typename T>
Napi::Value OptionalNumber(Napi::Env env, const std::optional<T>& v) {
  return v ? Napi::Number::New(env, *v) : env.Undefined();
}

[[noreturn]] void Invalid(const char* key, const std::string& what) {
  throw EncodeError(EINVAL, std::string(key) + ": " + what);
}

// A field: an integer from 0 to max, `fallback` when absent.
uint32_t Integer(const Napi::Object& o, const char* key, uint32_t fallback, uint32_t max) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsNumber()) Invalid(key, "expected a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= max) || d != static_cast<double>(static_cast<uint32_t>(d)))
    Invalid(key, "expected an integer from 0 to " + std::to_string(max));
  return static_cast<uint32_t>(d);
}

}  // namespace

ServiceKey ReadServiceKey(const Napi::Value& value) {
  if (!value.IsObject()) throw EncodeError(EINVAL, "expected an object");
  Napi::Object o = value.As<Napi::Object>();
  ServiceKey key;
  key.family = static_cast<uint16_t>(Integer(o, "family", 0, 0xffff));
  if (key.family != AF_INET && key.family != AF_INET6) Invalid("family", "must be AF_INET or AF_INET6");
  key.fwmark = Integer(o, "fwmark", 0, UINT32_MAX);
  key.protocol = static_cast<uint16_t>(Integer(o, "protocol", 0, 0xffff));
  key.address.family = key.family;
  Napi::Value address = o.Get("address");
  if (!address.IsUndefined() && !address.IsNull()) {
    if (!address.IsString()) Invalid("address", "expected a string");
    std::string text = address.As<Napi::String>().Utf8Value();
    // Empty: the all-zero address (fwmark services).
    if (!text.empty() && (text.find('\0') != std::string::npos ||
                          inet_pton(key.family, text.c_str(), key.address.bytes.data()) != 1))
      Invalid("address", "invalid " + std::string(key.family == AF_INET6 ? "IPv6" : "IPv4") + " address '" + text + "'");
  }
  key.port = static_cast<uint16_t>(Integer(o, "port", 0, 0xffff));
  return key;
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

// The counters as a BigUint64Array over the vector's own memory (no copy, no
// zero-filled 17 MB allocation on the loop: that took 0.2-0.6 s at 20,000 x 10
// in the emulated VM); a copy where external memory is not allowed.
static Napi::BigUint64Array Counters(Napi::Env env, std::vector<uint64_t>&& values) {
  const size_t length = values.size();
  if (length == 0) return Napi::BigUint64Array::New(env, 0);
  auto* owned = new std::vector<uint64_t>(std::move(values));
  auto bytes = Napi::Buffer<uint8_t>::NewOrCopy(
      env, reinterpret_cast<uint8_t*>(owned->data()), length * sizeof(uint64_t),
      [](Napi::Env, uint8_t*, std::vector<uint64_t>* v) { delete v; }, owned);
  // `owned` may be gone here (a copy frees it at once): use `bytes` only.
  if (bytes.ByteOffset() % sizeof(uint64_t) == 0)
    return Napi::BigUint64Array::New(env, length, bytes.ArrayBuffer(), bytes.ByteOffset(), napi_biguint64_array);
  auto aligned = Napi::BigUint64Array::New(env, length);
  std::memcpy(aligned.Data(), bytes.Data(), length * sizeof(uint64_t));
  return aligned;
}

Napi::Object FromListing(Napi::Env env, Listing& listing) {
  // Each chunk's text goes over as a Buffer that owns it (no copy, outside
  // the JS heap); JS decodes one chunk at a time as it parses them, a few per
  // event-loop turn. Making 50 MB of JS strings here instead blocked the loop
  // for 0.5-1.6 s on a 20,000 x 10 listing in the emulated VM.
  Napi::Array chunks = Napi::Array::New(env, listing.chunks.size());
  bool ascii = true;
  for (size_t i = 0; i < listing.chunks.size(); ++i) {
    Listing::Chunk& chunk = listing.chunks[i];
    ascii = ascii && chunk.ascii;
    auto* text = new std::string(std::move(chunk.text));
    // NewOrCopy: where external buffers are not allowed it copies and calls
    // the finalizer at once.
    chunks.Set(static_cast<uint32_t>(i),
               Napi::Buffer<char>::NewOrCopy(env, text->data(), text->size(),
                                             [](Napi::Env, char*, std::string* owned) { delete owned; }, text));
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("chunks", chunks);
  result.Set("ascii", ascii);
  if (listing.withStats()) {
    result.Set("stats", Counters(env, std::move(listing.counters)));
  } else {
    result.Set("stats", env.Null());
  }
  return result;
}

Napi::Value Release(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsTypedArray())
    throw Napi::TypeError::New(info.Env(), "view: expected a listing's chunk (a Buffer) or counters (a BigUint64Array)");
  Napi::TypedArray view = info[0].As<Napi::TypedArray>();
  Napi::ArrayBuffer memory = view.ArrayBuffer();
  // Detaching drops the ArrayBuffer's hold on the memory: Node then runs its
  // finalizer (FromListing's delete) on the next turn of the event loop. Only
  // a view of its whole ArrayBuffer, as FromListing makes them: a slice of
  // Node's shared Buffer pool is left alone.
  if (!memory.IsDetached() && view.ByteOffset() == 0 && view.ByteLength() == memory.ByteLength()) memory.Detach();
  return info.Env().Undefined();
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
