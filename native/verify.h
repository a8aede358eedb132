// verify(): the kernel's services and destinations against the expected
// fingerprints, compared on a worker thread; only what differs becomes JSON.
// Worker threads only; nothing here touches Node-API.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "fingerprints.h"
#include "listing.h"
#include "netlink_session.h"

namespace ipvs {

struct VerifyResult {
  // Services in both whose fingerprint differs, with their destinations.
  Listing differing;
  // Services in the kernel and not expected, with their destinations.
  Listing unexpected;
  // Ids expected and absent from the kernel, sorted.
  std::vector<std::string> missing;
  // (id, fingerprint text) of every listed service, when asked (for tests).
  bool withFingerprints = false;
  std::vector<std::pair<std::string, std::string>> fingerprints;
};

// `expected` is a snapshot no one writes while this runs (see fingerprints.h).
VerifyResult Verify(NetlinkSession& session, const FingerprintTable& expected, bool withFingerprints);

}  // namespace ipvs
