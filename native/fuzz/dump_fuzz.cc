// Multi-part dumps: a byte stream of several netlink messages ending in
// NLMSG_DONE (or an NLMSG_ERROR when the dump did not start), walked as
// NetlinkSession::Dump walks a datagram (ForEachReply, then DumpEnded), each
// data message handed to the decoder of its command (services and
// destinations into one listing, daemons). Port and sequence number are
// taken from the first message.
#include <linux/ip_vs.h>
#include <sys/socket.h>

#include "../ipvs_message.h"
#include "../netlink_session.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = fuzz::Copy(data, size);
  if (bytes.size() < NLMSG_HDRLEN) return 0;
  const auto* first = reinterpret_cast<const nlmsghdr*>(bytes.data());
  uint32_t port = first->nlmsg_pid, seq = first->nlmsg_seq;
  int error = 0;
  std::string extack;
  ipvs::Listing listing(true);
  bool open = false;
  ipvs::ForEachReply(bytes.data(), bytes.size(), port, seq, seq, [&](nlmsghdr* header) {
    if (ipvs::DumpEnded(header, &error, &extack)) return true;
    switch (fuzz::Command(header)) {
      case IPVS_CMD_NEW_SERVICE: {
        ipvs::ServiceRecord record;
        if (!ipvs::DecodeService(header, &record)) break;
        if (open) listing.CloseService();
        listing.AppendService(record, true);
        open = true;
        break;
      }
      case IPVS_CMD_NEW_DEST:
        if (open) listing.AppendDestination(header, AF_INET, false);
        else listing.AppendDestination(header, AF_INET6, true);
        break;
      case IPVS_CMD_NEW_DAEMON: {
        ipvs::Daemon daemon;
        ipvs::ParseDaemon(header, &daemon);
        break;
      }
      default:
        break;
    }
    return false;
  });
  FUZZ_CHECK(error >= 0);
  if (open) listing.CloseService();
  listing.Finish();
  fuzz::CheckListing(listing);
  return 0;
}
