#include "listing.h"

#include <arpa/inet.h>
#include <linux/genetlink.h>
#include <linux/ip_vs.h>

#include <charconv>

#include "wire.h"

namespace ipvs {
namespace {

// The attributes after the generic-netlink header, if this is `command`.
template <int Max>
bool ParseReply(const nlmsghdr* header, uint8_t command, Attributes<Max>* out) {
  if (header->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN) return false;
  const auto* genl = reinterpret_cast<const genlmsghdr*>(reinterpret_cast<const uint8_t*>(header) + NLMSG_HDRLEN);
  if (genl->cmd != command) return false;
  return out->Parse(reinterpret_cast<const uint8_t*>(header) + NLMSG_HDRLEN + GENL_HDRLEN,
                    header->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN);
}

}  // namespace

bool DecodeStats(const nlattr* stats, const nlattr* stats64, bool* present, std::array<uint64_t, 10>* out) {
  const nlattr* source = stats64 != nullptr ? stats64 : stats;
  *present = false;
  if (source == nullptr) return true;
  Attributes<IPVS_STATS_ATTR_MAX> a;
  if (!a.ParseNested(source)) return false;
  static const int kOrder[10] = {IPVS_STATS_ATTR_CONNS,    IPVS_STATS_ATTR_INPKTS, IPVS_STATS_ATTR_OUTPKTS,
                                 IPVS_STATS_ATTR_INBYTES,  IPVS_STATS_ATTR_OUTBYTES, IPVS_STATS_ATTR_CPS,
                                 IPVS_STATS_ATTR_INPPS,    IPVS_STATS_ATTR_OUTPPS, IPVS_STATS_ATTR_INBPS,
                                 IPVS_STATS_ATTR_OUTBPS};
  for (int i = 0; i < 10; ++i) {
    const nlattr* counter = a[kOrder[i]];
    (*out)[i] = 0;
    if (counter == nullptr) continue;
    bool wide = stats64 != nullptr || kOrder[i] == IPVS_STATS_ATTR_INBYTES || kOrder[i] == IPVS_STATS_ATTR_OUTBYTES;
    if (wide) {
      if (!ReadAttr(counter, &(*out)[i])) return false;
    } else {
      uint32_t v;
      if (!ReadAttr(counter, &v)) return false;
      (*out)[i] = v;
    }
  }
  *present = true;
  return true;
}

namespace {

bool DecodeAddress(const nlattr* a, uint16_t family, ipvs::Address* out) {
  out->family = family;
  out->bytes.fill(0);
  if (a == nullptr) return true;
  size_t need = family == AF_INET6 ? 16 : 4;
  if (AttrLength(a) < need) return false;
  std::memcpy(out->bytes.data(), AttrPayload(a), need);
  return true;
}

template <typename T>
bool Optional(const nlattr* a, T* out) {
  return a == nullptr || ReadAttr(a, out);
}

}  // namespace

bool DecodeService(const nlmsghdr* header, ServiceRecord* out) {
  Attributes<IPVS_CMD_ATTR_MAX> top;
  if (!ParseReply(header, IPVS_CMD_NEW_SERVICE, &top) || top[IPVS_CMD_ATTR_SERVICE] == nullptr) return false;
  Attributes<IPVS_SVC_ATTR_MAX> a;
  if (!a.ParseNested(top[IPVS_CMD_ATTR_SERVICE])) return false;
  if (a[IPVS_SVC_ATTR_AF] == nullptr || a[IPVS_SVC_ATTR_SCHED_NAME] == nullptr) return false;
  ServiceRecord& s = *out;
  uint16_t port = 0;
  ip_vs_flags flags{};
  if (!ReadAttr(a[IPVS_SVC_ATTR_AF], &s.key.family) || !Optional(a[IPVS_SVC_ATTR_PROTOCOL], &s.key.protocol) ||
      !Optional(a[IPVS_SVC_ATTR_FWMARK], &s.key.fwmark) || !Optional(a[IPVS_SVC_ATTR_PORT], &port) ||
      !Optional(a[IPVS_SVC_ATTR_FLAGS], &flags) || !Optional(a[IPVS_SVC_ATTR_TIMEOUT], &s.timeout) ||
      !Optional(a[IPVS_SVC_ATTR_NETMASK], &s.netmask) ||
      !DecodeAddress(a[IPVS_SVC_ATTR_ADDR], s.key.family, &s.key.address))
    return false;
  if (s.key.family != AF_INET && s.key.family != AF_INET6) return false;
  s.key.port = ntohs(port);
  s.flags = flags.flags & ~IP_VS_SVC_F_HASHED;
  if (s.key.family == AF_INET) s.netmask = ntohl(s.netmask);
  s.scheduler = AttrString(a[IPVS_SVC_ATTR_SCHED_NAME]);
  s.persistenceEngine = a[IPVS_SVC_ATTR_PE_NAME] != nullptr ? AttrString(a[IPVS_SVC_ATTR_PE_NAME]) : std::string();
  return DecodeStats(a[IPVS_SVC_ATTR_STATS], a[IPVS_SVC_ATTR_STATS64], &s.hasStats, &s.stats);
}

void Listing::BeginEntry() {
  if (current_.text.empty()) {
    current_.text.reserve(chunkBytes_ + chunkBytes_ / 8);
    current_.text.push_back('[');
  } else {
    current_.text.push_back(',');
  }
}

void Listing::EndEntry() {
  if (current_.text.size() < chunkBytes_) return;
  current_.text.push_back(']');
  chunks.push_back(std::move(current_));
  current_ = Chunk();
}

void Listing::Finish() {
  if (current_.text.empty()) return;
  current_.text.push_back(']');
  chunks.push_back(std::move(current_));
  current_ = Chunk();
}

void Listing::Number(uint64_t value) {
  char text[24];
  auto end = std::to_chars(text, text + sizeof(text), value).ptr;
  Text(text, end - text);
}

void Listing::String(const std::string& value) {
  static const char kHex[] = "0123456789abcdef";
  std::string& out = current_.text;
  out.push_back('"');
  for (unsigned char c : value) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      char escape[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
      out.append(escape, sizeof(escape));
    } else {
      if (c >= 0x80) current_.ascii = false;
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
}

std::string AddressText(uint16_t family, const uint8_t* bytes) {
  char text[INET6_ADDRSTRLEN];
  inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, bytes, text, sizeof(text));
  return text;
}

void Listing::Address(uint16_t family, const uint8_t* bytes) {
  char text[INET6_ADDRSTRLEN];
  inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, bytes, text, sizeof(text));
  current_.text.push_back('"');
  Text(text, strlen(text));
  current_.text.push_back('"');
}

void Listing::StatsIndex(bool present, const std::array<uint64_t, 10>& stats) {
  if (!withStats_ || !present) {
    Text("null");
    return;
  }
  Number(counters.size() / 10);
  counters.insert(counters.end(), stats.begin(), stats.end());
}

void Listing::AppendService(const ServiceRecord& s, bool open) {
  BeginEntry();
  Text("{\"family\":");
  Number(s.key.family);
  Text(",\"protocol\":");
  Number(s.key.protocol);
  Text(",\"address\":");
  Address(s.key.family, s.key.address.bytes.data());
  Text(",\"port\":");
  Number(s.key.port);
  Text(",\"fwmark\":");
  Number(s.key.fwmark);
  Text(",\"scheduler\":");
  String(s.scheduler);
  Text(",\"flags\":");
  Number(s.flags);
  Text(",\"timeout\":");
  Number(s.timeout);
  Text(",\"netmask\":");
  Number(s.netmask);
  Text(",\"persistenceEngine\":");
  String(s.persistenceEngine);
  Text(",\"stats\":");
  StatsIndex(s.hasStats, s.stats);
  if (open) {
    Text(",\"destinations\":[");
    firstDestination_ = true;
    return;
  }
  Text("}");
  EndEntry();
}

void Listing::CloseService() {
  Text("]}");
  EndEntry();
}

bool DecodeDestination(const nlmsghdr* header, uint16_t serviceFamily, DestinationRecord* out) {
  Attributes<IPVS_CMD_ATTR_MAX> top;
  if (!ParseReply(header, IPVS_CMD_NEW_DEST, &top) || top[IPVS_CMD_ATTR_DEST] == nullptr) return false;
  Attributes<IPVS_DEST_ATTR_MAX> a;
  if (!a.ParseNested(top[IPVS_CMD_ATTR_DEST])) return false;
  if (a[IPVS_DEST_ATTR_ADDR] == nullptr || a[IPVS_DEST_ATTR_PORT] == nullptr) return false;
  DestinationRecord& d = *out;
  // ADDR_FAMILY exists since 3.18; before that a destination has the service's family.
  uint16_t family = serviceFamily, port = 0, tunnelPort = 0;
  uint32_t forwarding = 0;
  if (!Optional(a[IPVS_DEST_ATTR_ADDR_FAMILY], &family) || !ReadAttr(a[IPVS_DEST_ATTR_PORT], &port) ||
      !DecodeAddress(a[IPVS_DEST_ATTR_ADDR], family, &d.address) ||
      !Optional(a[IPVS_DEST_ATTR_FWD_METHOD], &forwarding) || !Optional(a[IPVS_DEST_ATTR_WEIGHT], &d.weight) ||
      !Optional(a[IPVS_DEST_ATTR_U_THRESH], &d.upperThreshold) ||
      !Optional(a[IPVS_DEST_ATTR_L_THRESH], &d.lowerThreshold) ||
      !Optional(a[IPVS_DEST_ATTR_ACTIVE_CONNS], &d.activeConnections) ||
      !Optional(a[IPVS_DEST_ATTR_INACT_CONNS], &d.inactiveConnections) ||
      !Optional(a[IPVS_DEST_ATTR_PERSIST_CONNS], &d.persistentConnections) ||
      !Optional(a[IPVS_DEST_ATTR_TUN_TYPE], &d.tunnelType) || !Optional(a[IPVS_DEST_ATTR_TUN_PORT], &tunnelPort) ||
      !Optional(a[IPVS_DEST_ATTR_TUN_FLAGS], &d.tunnelFlags) ||
      !DecodeStats(a[IPVS_DEST_ATTR_STATS], a[IPVS_DEST_ATTR_STATS64], &d.hasStats, &d.stats))
    return false;
  if (family != AF_INET && family != AF_INET6) return false;
  d.port = ntohs(port);
  d.tunnelPort = ntohs(tunnelPort);
  d.forwarding = forwarding & IP_VS_CONN_F_FWD_MASK;
  // Kernels since 5.3 report tunnel settings for every destination; they mean
  // something only for tunnel forwarding. Writing them for the others cost an
  // object per destination in JS (220,000 in a 20,000 x 10 listing).
  d.hasTunnel = a[IPVS_DEST_ATTR_TUN_TYPE] != nullptr && d.forwarding == IP_VS_CONN_F_TUNNEL;
  if (!d.hasTunnel) {
    d.tunnelType = 0;
    d.tunnelPort = 0;
    d.tunnelFlags = 0;
  }
  return true;
}

bool Listing::AppendDestination(const nlmsghdr* header, uint16_t serviceFamily, bool topLevel) {
  DestinationRecord d;
  if (!DecodeDestination(header, serviceFamily, &d)) return false;
  AppendDestination(d, topLevel);
  return true;
}

void Listing::AppendDestination(const DestinationRecord& d, bool topLevel) {
  if (topLevel) {
    BeginEntry();
  } else if (!firstDestination_) {
    current_.text.push_back(',');
  }
  firstDestination_ = false;
  Text("{\"address\":");
  Address(d.address.family, d.address.bytes.data());
  Text(",\"family\":");
  Number(d.address.family);
  Text(",\"port\":");
  Number(d.port);
  Text(",\"weight\":");
  Number(d.weight);
  Text(",\"forwarding\":");
  Number(d.forwarding);
  Text(",\"upperThreshold\":");
  Number(d.upperThreshold);
  Text(",\"lowerThreshold\":");
  Number(d.lowerThreshold);
  if (d.hasTunnel) {
    Text(",\"tunnel\":{\"type\":");
    Number(d.tunnelType);
    Text(",\"port\":");
    Number(d.tunnelPort);
    Text(",\"flags\":");
    Number(d.tunnelFlags);
    Text("}");
  } else {
    Text(",\"tunnel\":null");
  }
  Text(",\"activeConnections\":");
  Number(d.activeConnections);
  Text(",\"inactiveConnections\":");
  Number(d.inactiveConnections);
  Text(",\"persistentConnections\":");
  Number(d.persistentConnections);
  Text(",\"stats\":");
  StatsIndex(d.hasStats, d.stats);
  Text("}");
  if (topLevel) EndEntry();
}

}  // namespace ipvs
