// Plain values from IPVS replies, with libnl's policy checks (the listing
// path has its own, faster decoder: listing.cc). Nothing here does I/O.
#pragma once

#include <linux/ip_vs.h>
#include <netlink/msg.h>

#include "ipvs_types.h"

namespace ipvs {

// Reply decoders. Each returns false when the message is not the expected
// reply or fails attribute validation.
// legacy: removed when lib/ switches
bool ParseService(nlmsghdr* header, Service* out);
bool ParseDestination(nlmsghdr* header, uint16_t serviceFamily, Destination* out);

bool ParseDaemon(nlmsghdr* header, Daemon* out);
bool ParseTimeouts(nlmsghdr* header, Timeouts* out);
bool ParseInfo(nlmsghdr* header, Info* out);

}  // namespace ipvs
