// Fingerprints of a service and its destinations, the same as
// lib/fingerprint.ts computes from the request shapes (RawService,
// RawDestination): verify() compares them on a worker thread so that JS sees
// only the services that differ. Nothing here touches Node-API.
//
// What goes in (raw kernel numbers), and the exact steps, are documented once,
// in lib/fingerprint.ts; a change here must be made there too (the kernel test
// test/kernel/native-stream.test.ts compares the two on real kernel data).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "listing.h"

namespace ipvs {

// Two 32-bit lanes (64 bits).
struct Fingerprint {
  uint32_t a = 0;
  uint32_t b = 0;
  bool operator==(const Fingerprint& o) const { return a == o.a && b == o.b; }
  bool operator!=(const Fingerprint& o) const { return !(*this == o); }
};

// One destination's fingerprint; a service's combines them by addition.
Fingerprint DestinationFingerprint(const DestinationRecord& destination);

// The service's fingerprint, its destinations' included (in any order).
Fingerprint ServiceFingerprint(const ServiceRecord& service, const std::vector<DestinationRecord>& destinations);

// 16 lower-case hex digits, lane a then lane b.
std::string FingerprintText(const Fingerprint& fingerprint);
// False unless `text` is exactly 16 hex digits (either case).
bool ParseFingerprintText(const std::string& text, Fingerprint* out);

// lib/convert.ts serviceId(): "fwmark <mark> <family>", or "<protocol> <address> <port>".
std::string ServiceIdOf(const ServiceKey& key);
// The inverse: false unless `id` is exactly what ServiceIdOf() writes for some key.
bool ParseServiceId(const std::string& id, ServiceKey* out);

}  // namespace ipvs
