// NEW_SERVICE replies (GET_SERVICE, its dump): DecodeService, then the listing
// JSON made of the record.
#include <linux/ip_vs.h>
#include <sys/socket.h>

#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = fuzz::Copy(data, size);
  const nlmsghdr* header = fuzz::Message(bytes);
  if (header == nullptr) return 0;
  ipvs::ServiceRecord record;
  if (!ipvs::DecodeService(header, &record)) return 0;
  FUZZ_CHECK(record.key.family == AF_INET || record.key.family == AF_INET6);
  FUZZ_CHECK((record.flags & IP_VS_SVC_F_HASHED) == 0);
  for (bool stats : {false, true}) {
    ipvs::Listing listing(stats);
    listing.AppendService(record, false);
    listing.AppendService(record, true);
    listing.CloseService();
    listing.Finish();
    fuzz::CheckListing(listing);
    FUZZ_CHECK(listing.counters.size() == (stats && record.hasStats ? 20u : 0u));
  }
  return 0;
}
