// The kernel's two dumps (all services; one service's destinations) into C++
// records, shared by list(), the listing cursor and verify(). Worker threads
// only.
#pragma once

#include <functional>
#include <vector>

#include "listing.h"
#include "netlink_session.h"

namespace ipvs {

// Every service, each once (the first when a change mid-dump repeats one).
std::vector<ServiceRecord> DumpServices(NetlinkSession& session);

// A GET_DEST dump of one service, each destination handed to `onMessage`.
// The kernel answers a service that does not exist with an empty dump.
void DumpDestinations(NetlinkSession& session, const ServiceKey& key, const std::function<void(nlmsghdr*)>& onMessage);

// One service's destinations as records; EBADMSG when one does not parse.
std::vector<DestinationRecord> DestinationRecords(NetlinkSession& session, const ServiceKey& key);

// Whether the service still exists (GET_SERVICE answers ESRCH when not):
// tells a service without destinations from one deleted since the service dump.
bool ServiceExists(NetlinkSession& session, const ServiceKey& key);

[[noreturn]] void ThrowUnparsable(const char* what);

}  // namespace ipvs
