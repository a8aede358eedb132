// The IPVS wire format: request messages from plain values, plain values from
// replies. Nothing here does I/O.
#pragma once

#include <linux/ip_vs.h>
#include <netlink/msg.h>

#include <memory>
#include <vector>

#include "ipvs_types.h"

namespace ipvs {

struct MessageDeleter {
  void operator()(nl_msg* message) const { nlmsg_free(message); }
};
using Message = std::unique_ptr<nl_msg, MessageDeleter>;

// A request for the IPVS family `family`: the command and, per the request,
// the nested service / destination / daemon and the timeouts.
Message BuildRequest(int family, const Request& request);

// A bare command (GET_INFO, GET_CONFIG, GET_DAEMON, FLUSH, ...).
Message BuildCommand(int family, uint8_t command);

// GET_SERVICE for one service, or GET_DEST (dump) for a service's destinations.
Message BuildWithServiceKey(int family, uint8_t command, const ServiceKey& key);

// Reply decoders. Each returns false when the message is not the expected
// reply or fails attribute validation.
bool ParseService(nlmsghdr* header, Service* out);
bool ParseDestination(nlmsghdr* header, uint16_t serviceFamily, Destination* out);
bool ParseDaemon(nlmsghdr* header, Daemon* out);
bool ParseTimeouts(nlmsghdr* header, Timeouts* out);
bool ParseInfo(nlmsghdr* header, Info* out);

}  // namespace ipvs
