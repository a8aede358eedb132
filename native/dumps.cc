#include "dumps.h"

#include <linux/ip_vs.h>

#include <set>
#include <string>

#include "wire.h"

namespace ipvs {

[[noreturn]] void ThrowUnparsable(const char* what) {
  throw SessionError(SessionError::Kind::Errno, EBADMSG, std::string("the kernel sent ") + what + " that does not parse");
}

std::vector<ServiceRecord> DumpServices(NetlinkSession& s) {
  std::vector<ServiceRecord> services;
  std::vector<uint8_t> request;
  Writer w(&request);
  w.Begin(IPVS_CMD_GET_SERVICE);
  w.End();
  // The kernel resumes a dump by position: a service added or deleted by
  // another process mid-dump can make one appear twice. Keep the first.
  std::set<std::string> seen;
  s.Dump(reinterpret_cast<nlmsghdr*>(request.data()), [&](nlmsghdr* header) {
    services.emplace_back();
    if (!DecodeService(header, &services.back())) ThrowUnparsable("a service");
    const ServiceKey& k = services.back().key;
    std::string id(reinterpret_cast<const char*>(k.address.bytes.data()), k.address.bytes.size());
    id += std::to_string(k.family) + "/" + std::to_string(k.protocol) + "/" + std::to_string(k.port) + "/" + std::to_string(k.fwmark);
    if (!seen.insert(std::move(id)).second) services.pop_back();
  });
  return services;
}

void DumpDestinations(NetlinkSession& session, const ServiceKey& key, const std::function<void(nlmsghdr*)>& onMessage) {
  std::vector<uint8_t> request;
  Writer w(&request);
  EncodeWithServiceKey(w, IPVS_CMD_GET_DEST, key);
  session.Dump(reinterpret_cast<nlmsghdr*>(request.data()), onMessage);
}

std::vector<DestinationRecord> DestinationRecords(NetlinkSession& session, const ServiceKey& key) {
  std::vector<DestinationRecord> destinations;
  DumpDestinations(session, key, [&](nlmsghdr* header) {
    destinations.emplace_back();
    if (!DecodeDestination(header, key.family, &destinations.back())) ThrowUnparsable("a destination");
  });
  return destinations;
}

bool ServiceExists(NetlinkSession& session, const ServiceKey& key) {
  std::vector<uint8_t> request;
  Writer w(&request);
  EncodeWithServiceKey(w, IPVS_CMD_GET_SERVICE, key);
  try {
    session.Transact(reinterpret_cast<nlmsghdr*>(request.data()), [](nlmsghdr*) {});
  } catch (const SessionError& e) {
    if (e.kind == SessionError::Kind::Errno && e.error == ESRCH) return false;
    throw;
  }
  return true;
}

}  // namespace ipvs
