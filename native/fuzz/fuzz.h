// Shared by the libFuzzer targets (native/fuzz/*_fuzz.cc, built by scripts/fuzz).
#pragma once

#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "../json_requests.h"
#include "../listing.h"
#include "../wire.h"

namespace fuzz {

// A failed invariant: a finding, as a crash libFuzzer keeps.
#define FUZZ_CHECK(cond)                                                             \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)

// The input as the addon holds a received datagram: a buffer of its own, of
// exactly the input's size (ASan sees every byte read past it).
inline std::vector<uint8_t> Copy(const uint8_t* data, size_t size) { return std::vector<uint8_t>(data, data + size); }

// The input as one message, when it lies wholly in the input (NLMSG_OK: what
// the receive loop checks before any decoder sees a message); else null.
inline nlmsghdr* Message(std::vector<uint8_t>& bytes) {
  if (bytes.size() < NLMSG_HDRLEN) return nullptr;
  auto* header = reinterpret_cast<nlmsghdr*>(bytes.data());
  int length = static_cast<int>(bytes.size());
  return NLMSG_OK(header, length) ? header : nullptr;
}

// The generic-netlink command of a message, -1 when it has no genl header.
inline int Command(const nlmsghdr* header) {
  if (header->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN) return -1;
  return reinterpret_cast<const genlmsghdr*>(reinterpret_cast<const uint8_t*>(header) + NLMSG_HDRLEN)->cmd;
}

// A listing is JSON that lib/ hands to JSON.parse: every chunk must be a
// well-formed array of objects. The addon's own strict RFC 8259 reader
// (json_requests.cc) checks it: it throws only for a syntax error.
inline void CheckListing(const ipvs::Listing& listing) {
  for (const auto& chunk : listing.chunks) {
    FUZZ_CHECK(chunk.text.size() >= 2 && chunk.text.front() == '[' && chunk.text.back() == ']');
    try {
      ipvs::ParseRequestsJson(chunk.text.data(), chunk.text.size());
    } catch (const ipvs::EncodeError& e) {
      std::fprintf(stderr, "listing chunk is not well-formed JSON: %s\n%s\n", e.what(), chunk.text.c_str());
      std::abort();
    }
  }
  FUZZ_CHECK(listing.counters.size() % 10 == 0);
}

}  // namespace fuzz
