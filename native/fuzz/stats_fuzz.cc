// The STATS and STATS64 nests of a service or destination (both use ids 10
// and 12): DecodeStats. Input: attributes back to back, as in the nest.
// A 32-bit STATS nest must never yield a counter past 2^32 but in its byte
// counters; STATS64 wins when both are sent.
#include <linux/ip_vs.h>

#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = fuzz::Copy(data, size);
  ipvs::Attributes<IPVS_SVC_ATTR_MAX> a;
  if (!a.Parse(bytes.data(), bytes.size())) return 0;
  bool present = true;
  std::array<uint64_t, 10> counters;
  bool ok = ipvs::DecodeStats(a[IPVS_SVC_ATTR_STATS], a[IPVS_SVC_ATTR_STATS64], &present, &counters);
  if (a[IPVS_SVC_ATTR_STATS] == nullptr && a[IPVS_SVC_ATTR_STATS64] == nullptr) FUZZ_CHECK(ok && !present);
  if (!ok || !present) return 0;
  if (a[IPVS_SVC_ATTR_STATS64] == nullptr) {
    for (int i = 0; i < 10; ++i)
      if (i != 3 && i != 4) FUZZ_CHECK(counters[i] <= UINT32_MAX);  // 3, 4: in/out bytes
  } else {
    // The same counters from STATS64 alone: STATS must not matter.
    bool alonePresent = false;
    std::array<uint64_t, 10> alone;
    FUZZ_CHECK(ipvs::DecodeStats(nullptr, a[IPVS_SVC_ATTR_STATS64], &alonePresent, &alone));
    FUZZ_CHECK(alonePresent && alone == counters);
  }
  return 0;
}
