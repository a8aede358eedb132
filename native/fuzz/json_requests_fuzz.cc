// The JSON request parser (executeJson's argument, caller-supplied text):
// ParseRequestsJson and the encoder behind it. Every array element must come
// out exactly once (sent or invalid), and every encoded message must be a
// well-formed netlink message whose attributes parse, within the send limits.
#include <linux/ip_vs.h>

#include <algorithm>
#include <cerrno>

#include "../json_requests.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = fuzz::Copy(data, size);
  ipvs::Batch batch;
  try {
    batch = ipvs::ParseRequestsJson(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  } catch (const ipvs::EncodeError& e) {
    FUZZ_CHECK(e.error == EINVAL);
    return 0;
  }
  std::vector<uint32_t> indices;
  for (const auto& failure : batch.invalid) {
    FUZZ_CHECK(failure.outcome == ipvs::Outcome::Invalid && failure.error > 0 && !failure.message.empty());
    indices.push_back(failure.index);
  }
  for (auto& buffer : batch.buffers) {
    FUZZ_CHECK(!buffer.indices.empty() && buffer.indices.size() <= ipvs::kMaxMessagesPerSend);
    FUZZ_CHECK(buffer.bytes.size() <= ipvs::kMaxBytesPerSend);
    indices.insert(indices.end(), buffer.indices.begin(), buffer.indices.end());
    size_t messages = 0, offset = 0;
    auto* header = reinterpret_cast<nlmsghdr*>(buffer.bytes.data());
    int remaining = static_cast<int>(buffer.bytes.size());
    for (; NLMSG_OK(header, remaining); header = NLMSG_NEXT(header, remaining)) {
      ++messages;
      offset += NLMSG_ALIGN(header->nlmsg_len);
      FUZZ_CHECK(header->nlmsg_len <= ipvs::kMaxMessageBytes);
      FUZZ_CHECK(header->nlmsg_len >= NLMSG_HDRLEN + GENL_HDRLEN);
      int command = fuzz::Command(header);
      FUZZ_CHECK(command > 0 && command <= IPVS_CMD_MAX);
      ipvs::Attributes<IPVS_CMD_ATTR_MAX> top;
      const uint8_t* payload = reinterpret_cast<const uint8_t*>(header) + NLMSG_HDRLEN + GENL_HDRLEN;
      FUZZ_CHECK(top.Parse(payload, header->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN));
      for (int nest : {IPVS_CMD_ATTR_SERVICE, IPVS_CMD_ATTR_DEST, IPVS_CMD_ATTR_DAEMON}) {
        if (top[nest] == nullptr) continue;
        ipvs::Attributes<IPVS_DEST_ATTR_MAX> inner;
        FUZZ_CHECK(inner.ParseNested(top[nest]));
      }
    }
    FUZZ_CHECK(remaining == 0 && offset == buffer.bytes.size());
    FUZZ_CHECK(messages == buffer.indices.size());
  }
  std::sort(indices.begin(), indices.end());
  for (size_t i = 0; i < indices.size(); ++i) FUZZ_CHECK(indices[i] == i);
  return 0;
}
