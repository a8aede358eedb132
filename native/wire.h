// Netlink bytes without libnl: an encoder that writes requests straight into
// a send buffer, and a bounds-checked attribute reader for replies. Nothing
// here does I/O.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "ipvs_types.h"

namespace ipvs {

// A request the encoder refuses (EINVAL: a bad value; EMSGSIZE: it does not
// fit in one message). Never reaches the kernel.
struct EncodeError : std::runtime_error {
  EncodeError(int error, const std::string& message) : std::runtime_error(message), error(error) {}
  int error;
};

// One request message is at most this long: a service with a destination
// needs < 200 bytes, so only absurd strings hit it (EMSGSIZE).
constexpr size_t kMaxMessageBytes = 1024;

// Appends generic-netlink messages to `out`. The header's type (the family
// id), flags, sequence number and port are stamped when the buffer is sent.
class Writer {
 public:
  explicit Writer(std::vector<uint8_t>* out) : out_(out) {}

  void Begin(uint8_t command, uint16_t type = 0, uint8_t version = 1);
  // Fixes the length; throws EncodeError(EMSGSIZE) when the message is too long.
  void End();
  // Drops the message begun last (after an EncodeError).
  void Abort() { out_->resize(start_); }

  void Put(uint16_t type, const void* data, size_t length);
  void PutU8(uint16_t type, uint8_t v) { Put(type, &v, 1); }
  void PutU16(uint16_t type, uint16_t v) { Put(type, &v, 2); }
  void PutU32(uint16_t type, uint32_t v) { Put(type, &v, 4); }
  // With its NUL, as the kernel's NLA_NUL_STRING policies expect.
  void PutString(uint16_t type, const std::string& s);
  size_t BeginNest(uint16_t type);
  void EndNest(size_t at);

 private:
  std::vector<uint8_t>* out_;
  size_t start_ = 0;
};

// The request, encoded as one message (see Writer::Begin for what is left to
// stamp). Throws EncodeError.
void EncodeRequest(Writer& w, const Request& request);
// GET_SERVICE for one service, or GET_DEST for a service's destinations.
void EncodeWithServiceKey(Writer& w, uint8_t command, const ServiceKey& key);

inline const void* AttrPayload(const nlattr* a) { return reinterpret_cast<const uint8_t*>(a) + NLA_HDRLEN; }
inline size_t AttrLength(const nlattr* a) { return a->nla_len - NLA_HDRLEN; }

// Top-level or nested attributes by type; absent ones are null. Types above
// `Max` are ignored (newer kernels add attributes).
template <int Max>
struct Attributes {
  const nlattr* at[Max + 1] = {};
  // False when an attribute's length runs past the data (a malformed reply).
  bool Parse(const void* data, size_t length) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (length >= NLA_HDRLEN) {
      const auto* a = reinterpret_cast<const nlattr*>(p);
      if (a->nla_len < NLA_HDRLEN || a->nla_len > length) return false;
      uint16_t type = a->nla_type & NLA_TYPE_MASK;
      if (type <= Max) at[type] = a;
      size_t step = NLA_ALIGN(a->nla_len);
      if (step >= length) break;
      p += step;
      length -= step;
    }
    return true;
  }
  bool ParseNested(const nlattr* a) { return Parse(AttrPayload(a), AttrLength(a)); }
  const nlattr* operator[](int type) const { return at[type]; }
};

// Typed reads: false when the attribute is too short for the type.
template <typename T>
bool ReadAttr(const nlattr* a, T* out) {
  if (AttrLength(a) < sizeof(T)) return false;
  std::memcpy(out, AttrPayload(a), sizeof(T));
  return true;
}

// A string attribute up to its NUL (or its end when the kernel sent none).
inline std::string AttrString(const nlattr* a) {
  const char* s = static_cast<const char*>(AttrPayload(a));
  return std::string(s, strnlen(s, AttrLength(a)));
}

}  // namespace ipvs
