// Plain C++ values for IPVS objects. Worker threads read and write only these;
// JavaScript values are made from them on the main thread (js_convert.cc).
#pragma once

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ipvs {

// An address as the kernel carries it: 16 bytes, IPv4 in the first 4.
struct Address {
  uint16_t family = 0;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};
};

// What identifies a service: (family, fwmark) when fwmark != 0, else
// (family, protocol, address, port).
struct ServiceKey {
  uint16_t family = 0;
  uint16_t protocol = 0;
  Address address;
  uint16_t port = 0;  // host order
  uint32_t fwmark = 0;
};

struct Service {
  ServiceKey key;
  std::string scheduler;
  uint32_t flags = 0;
  uint32_t timeout = 0;
  // IPv4: the mask in host order (0xffffffff = /32); IPv6: prefix length.
  uint32_t netmask = 0;
  std::string persistenceEngine;
};

struct Destination {
  Address address;  // family 0 = same as the service
  uint16_t port = 0;
  uint32_t forwardingMethod = 0;
  uint32_t weight = 0;
  uint32_t upperThreshold = 0;
  uint32_t lowerThreshold = 0;
  std::optional<uint8_t> tunnelType;
  std::optional<uint16_t> tunnelPort;  // host order
  std::optional<uint16_t> tunnelFlags;
};

struct Daemon {
  uint32_t state = 0;  // IP_VS_STATE_MASTER / BACKUP
  std::string multicastInterface;
  uint32_t syncId = 0;
  std::optional<uint16_t> syncMaxLen;
  std::optional<Address> multicastGroup;
  std::optional<uint16_t> multicastPort;
  std::optional<uint8_t> multicastTtl;
};

struct Timeouts {
  uint32_t tcp = 0, tcpFin = 0, udp = 0;
};

struct Info {
  uint32_t version = 0;
  uint32_t connTableSize = 0;
};

// One change request: a command and the objects it carries. Batches are lists
// of these, sent in as few sendmsg calls as possible.
struct Request {
  uint8_t command = 0;
  std::optional<Service> service;
  bool serviceKeyOnly = false;  // DEL_SERVICE, ZERO, *_DEST: send only the key
  std::optional<Destination> destination;
  std::optional<Daemon> daemon;
  std::optional<Timeouts> timeouts;
};

// The outcome of one request in a batch that was not applied, or may not be.
enum class Outcome {
  Refused,  // the kernel answered it with `error`
  Unknown,  // sent, but its answer may have been lost
  Unsent,   // never sent: an earlier socket failure stopped the batch
  Invalid,  // refused by the encoder, never sent
};

struct Failure {
  uint32_t index = 0;
  int error = 0;  // positive errno
  Outcome outcome = Outcome::Refused;
  std::string extack;   // the kernel's extended-ACK text only
  std::string message;  // the library's description, for the other outcomes
};

}  // namespace ipvs
