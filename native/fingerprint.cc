#include "fingerprint.h"

#include <arpa/inet.h>

#include <linux/ip_vs.h>

namespace ipvs {
namespace {

// Lane a is FNV-1a's 32-bit offset basis and prime; lane b has its own
// constants so that the lanes do not move together.
constexpr uint32_t kOffsetA = 0x811c9dc5u, kPrimeA = 0x01000193u;
constexpr uint32_t kOffsetB = 0x9e3779b9u, kPrimeB = 0x5bd1e995u;
// Ends a string: never a byte, so "ab" + "c" and "a" + "bc" differ.
constexpr uint32_t kEndOfText = 0x100;

class Hasher {
 public:
  // A whole number in one step; the shift carries its high bits down, which
  // a multiply alone never does.
  void Number(uint32_t v) {
    a_ = (a_ ^ v) * kPrimeA;
    a_ ^= a_ >> 15;
    b_ = (b_ ^ v) * kPrimeB;
    b_ ^= b_ >> 13;
  }
  // Byte by byte (FNV-1a), then the end mark. Every string hashed is ASCII
  // (addresses, scheduler and engine names); the JS side hashes UTF-8 bytes too.
  void Text(const std::string& s) {
    for (unsigned char c : s) {
      a_ = (a_ ^ c) * kPrimeA;
      b_ = (b_ ^ c) * kPrimeB;
    }
    Number(kEndOfText);
  }
  Fingerprint Finish() const { return {Mix(a_), Mix(b_)}; }

 private:
  // MurmurHash3's finalizer: every input bit reaches every output bit, so
  // sums of destination fingerprints stay well spread.
  static uint32_t Mix(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
  }
  uint32_t a_ = kOffsetA;
  uint32_t b_ = kOffsetB;
};

}  // namespace

Fingerprint DestinationFingerprint(const DestinationRecord& d) {
  Hasher h;
  h.Number(d.address.family);
  h.Text(AddressText(d.address.family, d.address.bytes.data()));
  h.Number(d.port);
  h.Number(d.forwarding);
  h.Number(d.weight);
  h.Number(d.upperThreshold);
  h.Number(d.lowerThreshold);
  if (d.forwarding == IP_VS_CONN_F_TUNNEL) {
    h.Number(d.tunnelType);
    h.Number(d.tunnelPort);
    h.Number(d.tunnelFlags);
  }
  return h.Finish();
}

Fingerprint ServiceFingerprint(const ServiceRecord& s, const std::vector<DestinationRecord>& destinations) {
  Fingerprint sum;
  for (const DestinationRecord& d : destinations) {
    Fingerprint f = DestinationFingerprint(d);
    sum.a += f.a;
    sum.b += f.b;
  }
  Hasher h;
  const ServiceKey& k = s.key;
  h.Number(k.family);
  // A fwmark service is keyed by (family, mark): the kernel lists it with
  // protocol TCP and the zero address, while requests carry 0 and "".
  h.Number(k.fwmark ? 0 : k.protocol);
  h.Text(k.fwmark ? std::string() : AddressText(k.family, k.address.bytes.data()));
  h.Number(k.fwmark ? 0 : k.port);
  h.Number(k.fwmark);
  h.Text(s.scheduler);
  const uint32_t flags = s.flags & ~IP_VS_SVC_F_HASHED;
  h.Number(flags);
  h.Text(s.persistenceEngine);
  // Timeout and netmask mean something only for a persistent service.
  if (flags & IP_VS_SVC_F_PERSISTENT) {
    h.Number(s.timeout);
    h.Number(s.netmask);
  }
  h.Number(static_cast<uint32_t>(destinations.size()));
  h.Number(sum.a);
  h.Number(sum.b);
  return h.Finish();
}

std::string FingerprintText(const Fingerprint& f) {
  static const char kHex[] = "0123456789abcdef";
  std::string text(16, '0');
  for (int i = 0; i < 8; ++i) {
    text[i] = kHex[(f.a >> (28 - 4 * i)) & 15];
    text[8 + i] = kHex[(f.b >> (28 - 4 * i)) & 15];
  }
  return text;
}

bool ParseFingerprintText(const std::string& text, Fingerprint* out) {
  if (text.size() != 16) return false;
  uint32_t lanes[2] = {0, 0};
  for (size_t i = 0; i < 16; ++i) {
    char c = text[i];
    uint32_t digit;
    if (c >= '0' && c <= '9') digit = c - '0';
    else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    else return false;
    lanes[i / 8] = (lanes[i / 8] << 4) | digit;
  }
  out->a = lanes[0];
  out->b = lanes[1];
  return true;
}

std::string ServiceIdOf(const ServiceKey& k) {
  if (k.fwmark) return "fwmark " + std::to_string(k.fwmark) + " " + std::to_string(k.family);
  return std::to_string(k.protocol) + " " + AddressText(k.family, k.address.bytes.data()) + " " + std::to_string(k.port);
}

namespace {

// A decimal number of at most `max`, nothing else (no sign, no leading zero but "0").
bool ParseDecimal(const std::string& text, uint32_t max, uint32_t* out) {
  if (text.empty() || text.size() > 10 || (text.size() > 1 && text[0] == '0')) return false;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  if (value > max) return false;
  *out = static_cast<uint32_t>(value);
  return true;
}

}  // namespace

bool ParseServiceId(const std::string& id, ServiceKey* out) {
  const size_t first = id.find(' ');
  const size_t second = first == std::string::npos ? std::string::npos : id.find(' ', first + 1);
  if (second == std::string::npos || id.find(' ', second + 1) != std::string::npos) return false;
  const std::string a = id.substr(0, first), b = id.substr(first + 1, second - first - 1), c = id.substr(second + 1);
  ServiceKey key;
  uint32_t number = 0;
  if (a == "fwmark") {
    if (!ParseDecimal(b, UINT32_MAX, &key.fwmark) || key.fwmark == 0 || !ParseDecimal(c, 0xffff, &number)) return false;
    if (number != AF_INET && number != AF_INET6) return false;
    key.family = key.address.family = static_cast<uint16_t>(number);
  } else {
    if (!ParseDecimal(a, 0xffff, &number)) return false;
    key.protocol = static_cast<uint16_t>(number);
    key.family = key.address.family = b.find(':') == std::string::npos ? AF_INET : AF_INET6;
    if (inet_pton(key.family, b.c_str(), key.address.bytes.data()) != 1 || !ParseDecimal(c, 0xffff, &number)) return false;
    key.port = static_cast<uint16_t>(number);
  }
  // Exactly what ServiceIdOf() writes (one spelling per address): nothing else names a service.
  if (ServiceIdOf(key) != id) return false;
  *out = key;
  return true;
}

}  // namespace ipvs
