// ACKs and refusals (NLMSG_ERROR, with or without the echoed request, with
// extended-ACK TLVs): a byte stream of messages as a batch's receive loop
// walks it (ForEachReply over the sequence numbers of a 512-message buffer,
// port and first sequence number taken from the first message), each
// NLMSG_ERROR through ErrorOf.
#include <cerrno>

#include "../netlink_session.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = fuzz::Copy(data, size);
  if (bytes.size() < NLMSG_HDRLEN) return 0;
  const auto* first = reinterpret_cast<const nlmsghdr*>(bytes.data());
  uint32_t port = first->nlmsg_pid, firstSeq = first->nlmsg_seq;
  uint32_t lastSeq = firstSeq > UINT32_MAX - 511 ? UINT32_MAX : firstSeq + 511;
  ipvs::ForEachReply(bytes.data(), bytes.size(), port, firstSeq, lastSeq, [&](nlmsghdr* header) {
    FUZZ_CHECK(header->nlmsg_seq >= firstSeq && header->nlmsg_seq - firstSeq <= 511);
    if (header->nlmsg_type != NLMSG_ERROR) return false;
    std::string extack;
    int error = ipvs::ErrorOf(header, &extack);
    FUZZ_CHECK(error >= 0);  // a positive errno, or 0 for an ACK
    FUZZ_CHECK(ipvs::ErrorOf(header, nullptr) == error);
    return false;
  });
  return 0;
}
