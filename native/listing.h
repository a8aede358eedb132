// The fast read path: kernel replies straight to JSON text, which JavaScript
// parses a chunk at a time, and counters into one flat array. Worker threads
// only; nothing here touches Node-API.
#pragma once

#include <linux/netlink.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "ipvs_types.h"

namespace ipvs {

// A service as the dump gave it, kept until its destinations are dumped.
struct ServiceRecord {
  ServiceKey key;
  std::string scheduler;
  std::string persistenceEngine;
  uint32_t flags = 0;  // HASHED stripped
  uint32_t timeout = 0;
  uint32_t netmask = 0;  // IPv4: host order; IPv6: prefix length
  bool hasStats = false;
  std::array<uint64_t, 10> stats{};
};

// A destination as the dump gave it: verify() keeps one service's worth
// while it compares them, and lists them only if the service differs.
struct DestinationRecord {
  Address address;  // its own family (ADDR_FAMILY, else the service's)
  uint16_t port = 0;  // host order
  uint32_t forwarding = 0;  // IP_VS_CONN_F_FWD_MASK bits only
  uint32_t weight = 0;
  uint32_t upperThreshold = 0;
  uint32_t lowerThreshold = 0;
  uint32_t activeConnections = 0;
  uint32_t inactiveConnections = 0;
  uint32_t persistentConnections = 0;
  // Only for tunnel forwarding, and only when the kernel sent a tunnel type
  // (5.2+); ports in host order, 0 when absent.
  bool hasTunnel = false;
  uint8_t tunnelType = 0;
  uint16_t tunnelPort = 0;
  uint16_t tunnelFlags = 0;
  bool hasStats = false;
  std::array<uint64_t, 10> stats{};
};

// A chunk ends at the first object boundary past this size: small enough for
// JSON.parse to take one per event-loop turn without a long pause.
constexpr size_t kChunkBytes = 32 * 1024;
// A streamed batch's chunks (Handle.listCursor()): JS parses and converts one
// chunk per event-loop turn while its caller keeps running, so a turn's work
// is a quarter of list()'s. (Smaller still would cost more Buffers and parse
// calls than it saves.)
constexpr size_t kStreamChunkBytes = 8 * 1024;

// JSON arrays of objects, cut into chunks at object boundaries.
class Listing {
 public:
  explicit Listing(bool withStats = false, size_t chunkBytes = kChunkBytes)
      : withStats_(withStats), chunkBytes_(chunkBytes) {}

  // A service: the object, left open for its destinations when `open`
  // (then AppendDestination each, then CloseService).
  void AppendService(const ServiceRecord& service, bool open);
  void CloseService();
  // A destination from a NEW_DEST reply: false when it does not parse.
  // `topLevel`: an element of the listing itself (listDestinations).
  bool AppendDestination(const nlmsghdr* header, uint16_t serviceFamily, bool topLevel);
  void AppendDestination(const DestinationRecord& destination, bool topLevel);
  // Closes the last chunk; the listing is then complete.
  void Finish();

  struct Chunk {
    std::string text;
    bool ascii = true;  // latin1 is the cheaper way into a JS string
  };
  std::vector<Chunk> chunks;
  std::vector<uint64_t> counters;  // 10 per entry with stats
  bool withStats() const { return withStats_; }

 private:
  void BeginEntry();
  void EndEntry();
  void Text(const char* text, size_t length) { current_.text.append(text, length); }
  template <size_t N>
  void Text(const char (&text)[N]) { current_.text.append(text, N - 1); }
  void Number(uint64_t value);
  void String(const std::string& value);
  void Address(uint16_t family, const uint8_t* bytes);
  void StatsIndex(bool present, const std::array<uint64_t, 10>& stats);

  bool withStats_;
  size_t chunkBytes_;
  bool firstDestination_ = true;
  Chunk current_;
};

// Decodes a NEW_SERVICE reply; false when it does not parse.
bool DecodeService(const nlmsghdr* header, ServiceRecord* out);
// Decodes a NEW_DEST reply of a service of `serviceFamily`; false when it does not parse.
bool DecodeDestination(const nlmsghdr* header, uint16_t serviceFamily, DestinationRecord* out);

// The address as the listing prints it (inet_ntop).
std::string AddressText(uint16_t family, const uint8_t* bytes);

// A service's or destination's counters: STATS64 when sent (every counter
// 64-bit), else STATS (only the byte counters are); *present is false when
// neither was sent. False when the nest does not parse.
bool DecodeStats(const nlattr* stats, const nlattr* stats64, bool* present, std::array<uint64_t, 10>* out);

}  // namespace ipvs
