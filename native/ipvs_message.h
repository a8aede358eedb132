// Plain values from the small IPVS replies (info, timeouts, sync daemons),
// with libnl's policy checks; services and destinations have their own,
// faster decoder (listing.cc). Nothing here does I/O.
#pragma once

#include <linux/ip_vs.h>
#include <netlink/msg.h>

#include "ipvs_types.h"

namespace ipvs {

// Reply decoders. Each returns false when the message is not the expected
// reply or fails attribute validation.
bool ParseDaemon(nlmsghdr* header, Daemon* out);
bool ParseTimeouts(nlmsghdr* header, Timeouts* out);
bool ParseInfo(nlmsghdr* header, Info* out);

}  // namespace ipvs
