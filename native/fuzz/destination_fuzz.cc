// NEW_DEST replies (the GET_DEST dump): Listing::AppendDestination, at the
// top level (listDestinations) and inside a service (list), and its JSON;
// the record verify() keeps (DecodeDestination), its fingerprint, and the
// listing verify() makes of it. The
// service's family (used when the reply has no ADDR_FAMILY) is taken from the
// sequence number's low bit, which the decoder itself never reads.
#include <linux/ip_vs.h>
#include <sys/socket.h>

#include "../fingerprint.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = fuzz::Copy(data, size);
  const nlmsghdr* header = fuzz::Message(bytes);
  if (header == nullptr) return 0;
  uint16_t family = (header->nlmsg_seq & 1) ? AF_INET6 : AF_INET;

  ipvs::Listing top(true);
  bool ok = top.AppendDestination(header, family, true);
  top.Finish();
  fuzz::CheckListing(top);
  FUZZ_CHECK(ok || top.chunks.empty());

  ipvs::ServiceRecord service;
  service.key.family = family;
  service.scheduler = "rr";
  ipvs::Listing nested(false);
  nested.AppendService(service, true);
  FUZZ_CHECK(nested.AppendDestination(header, family, false) == ok);
  nested.AppendDestination(header, family, false);
  nested.CloseService();
  nested.Finish();
  fuzz::CheckListing(nested);

  ipvs::DestinationRecord record;
  FUZZ_CHECK(ipvs::DecodeDestination(header, family, &record) == ok);
  if (!ok) return 0;
  ipvs::Listing differing(false);
  differing.AppendService(service, true);
  differing.AppendDestination(record, false);
  differing.CloseService();
  differing.Finish();
  fuzz::CheckListing(differing);
  // Order-independent, and the text form round-trips.
  ipvs::DestinationRecord other = record;
  other.weight ^= 1;
  ipvs::Fingerprint f = ipvs::ServiceFingerprint(service, {record, other});
  FUZZ_CHECK(f == ipvs::ServiceFingerprint(service, {other, record}));
  FUZZ_CHECK(f != ipvs::ServiceFingerprint(service, {record}));
  ipvs::Fingerprint parsed;
  FUZZ_CHECK(ipvs::ParseFingerprintText(ipvs::FingerprintText(f), &parsed) && parsed == f);
  return 0;
}
