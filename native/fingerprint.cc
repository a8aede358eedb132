#include "fingerprint.h"

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

}  // namespace ipvs
