#include "verify.h"

#include <algorithm>
#include <unordered_set>

#include "dumps.h"

namespace ipvs {
namespace {

void AppendWithDestinations(Listing& listing, const ServiceRecord& service,
                            const std::vector<DestinationRecord>& destinations) {
  listing.AppendService(service, true);
  for (const DestinationRecord& d : destinations) listing.AppendDestination(d, false);
  listing.CloseService();
}

}  // namespace

VerifyResult Verify(NetlinkSession& session, const FingerprintTable& expected, bool withFingerprints) {
  VerifyResult result;
  result.withFingerprints = withFingerprints;
  std::unordered_set<std::string> present;
  // One service's destinations at a time: the memory held is the service
  // records (small) and what differs, never the whole table's destinations.
  for (const ServiceRecord& service : DumpServices(session)) {
    std::vector<DestinationRecord> destinations = DestinationRecords(session, service.key);
    // A service deleted after the service dump has an empty destination dump,
    // like a service without destinations: ask which.
    if (destinations.empty() && !ServiceExists(session, service.key)) continue;
    Fingerprint fingerprint = ServiceFingerprint(service, destinations);
    std::string id = ServiceIdOf(service.key);
    if (withFingerprints) result.fingerprints.emplace_back(id, FingerprintText(fingerprint));
    auto found = expected.find(id);
    if (found == expected.end()) {
      AppendWithDestinations(result.unexpected, service, destinations);
      continue;
    }
    present.insert(id);
    if (found->second != fingerprint) AppendWithDestinations(result.differing, service, destinations);
  }
  result.differing.Finish();
  result.unexpected.Finish();
  for (const auto& entry : expected)
    if (present.find(entry.first) == present.end()) result.missing.push_back(entry.first);
  std::sort(result.missing.begin(), result.missing.end());
  return result;
}

}  // namespace ipvs
