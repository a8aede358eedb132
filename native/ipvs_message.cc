#include "ipvs_message.h"

#include <arpa/inet.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>

#include <cstring>
#include <new>

namespace ipvs {
namespace {

// Request messages are small (a service with a destination is < 200 bytes).
constexpr size_t kMessageSize = 1024;

Message NewMessage(int family, uint8_t command) {
  Message message(nlmsg_alloc_size(kMessageSize));
  if (!message) throw std::bad_alloc();
  if (genlmsg_put(message.get(), NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, 0, command, IPVS_GENL_VERSION) == nullptr)
    throw std::bad_alloc();
  return message;
}

// nla_put* fail only when the message buffer is full, which the fixed sizes
// above rule out; a failure is still reported rather than sent truncated.
void Check(int rc) {
  if (rc < 0) throw std::bad_alloc();
}

void PutAddress(nl_msg* m, int type, const Address& a) { Check(nla_put(m, type, sizeof(a.bytes), a.bytes.data())); }

void PutServiceKey(nl_msg* m, const ServiceKey& key) {
  Check(nla_put_u16(m, IPVS_SVC_ATTR_AF, key.family));
  if (key.fwmark != 0) {
    Check(nla_put_u32(m, IPVS_SVC_ATTR_FWMARK, key.fwmark));
  } else {
    Check(nla_put_u16(m, IPVS_SVC_ATTR_PROTOCOL, key.protocol));
    PutAddress(m, IPVS_SVC_ATTR_ADDR, key.address);
    Check(nla_put_u16(m, IPVS_SVC_ATTR_PORT, htons(key.port)));
  }
}

void PutService(nl_msg* m, const Service& s, bool keyOnly) {
  nlattr* nest = nla_nest_start(m, IPVS_CMD_ATTR_SERVICE);
  if (nest == nullptr) throw std::bad_alloc();
  PutServiceKey(m, s.key);
  if (!keyOnly) {
    Check(nla_put_string(m, IPVS_SVC_ATTR_SCHED_NAME, s.scheduler.c_str()));
    if (!s.persistenceEngine.empty()) Check(nla_put_string(m, IPVS_SVC_ATTR_PE_NAME, s.persistenceEngine.c_str()));
    ip_vs_flags flags{s.flags, ~0U};
    Check(nla_put(m, IPVS_SVC_ATTR_FLAGS, sizeof(flags), &flags));
    Check(nla_put_u32(m, IPVS_SVC_ATTR_TIMEOUT, s.timeout));
    Check(nla_put_u32(m, IPVS_SVC_ATTR_NETMASK, s.key.family == AF_INET ? htonl(s.netmask) : s.netmask));
  }
  nla_nest_end(m, nest);
}

void PutDestination(nl_msg* m, const Destination& d, bool keyOnly) {
  nlattr* nest = nla_nest_start(m, IPVS_CMD_ATTR_DEST);
  if (nest == nullptr) throw std::bad_alloc();
  PutAddress(m, IPVS_DEST_ATTR_ADDR, d.address);
  Check(nla_put_u16(m, IPVS_DEST_ATTR_PORT, htons(d.port)));
  if (d.address.family != 0) Check(nla_put_u16(m, IPVS_DEST_ATTR_ADDR_FAMILY, d.address.family));
  if (!keyOnly) {
    Check(nla_put_u32(m, IPVS_DEST_ATTR_FWD_METHOD, d.forwardingMethod));
    Check(nla_put_u32(m, IPVS_DEST_ATTR_WEIGHT, d.weight));
    Check(nla_put_u32(m, IPVS_DEST_ATTR_U_THRESH, d.upperThreshold));
    Check(nla_put_u32(m, IPVS_DEST_ATTR_L_THRESH, d.lowerThreshold));
    if (d.tunnelType) Check(nla_put_u8(m, IPVS_DEST_ATTR_TUN_TYPE, *d.tunnelType));
    if (d.tunnelPort) Check(nla_put_u16(m, IPVS_DEST_ATTR_TUN_PORT, htons(*d.tunnelPort)));
    if (d.tunnelFlags) Check(nla_put_u16(m, IPVS_DEST_ATTR_TUN_FLAGS, *d.tunnelFlags));
  }
  nla_nest_end(m, nest);
}

void PutDaemon(nl_msg* m, const Daemon& d, bool stateOnly) {
  nlattr* nest = nla_nest_start(m, IPVS_CMD_ATTR_DAEMON);
  if (nest == nullptr) throw std::bad_alloc();
  Check(nla_put_u32(m, IPVS_DAEMON_ATTR_STATE, d.state));
  if (!stateOnly) {
    Check(nla_put_string(m, IPVS_DAEMON_ATTR_MCAST_IFN, d.multicastInterface.c_str()));
    Check(nla_put_u32(m, IPVS_DAEMON_ATTR_SYNC_ID, d.syncId));
    if (d.syncMaxLen) Check(nla_put_u16(m, IPVS_DAEMON_ATTR_SYNC_MAXLEN, *d.syncMaxLen));
    if (d.multicastGroup) {
      if (d.multicastGroup->family == AF_INET6)
        Check(nla_put(m, IPVS_DAEMON_ATTR_MCAST_GROUP6, 16, d.multicastGroup->bytes.data()));
      else
        Check(nla_put(m, IPVS_DAEMON_ATTR_MCAST_GROUP, 4, d.multicastGroup->bytes.data()));
    }
    if (d.multicastPort) Check(nla_put_u16(m, IPVS_DAEMON_ATTR_MCAST_PORT, *d.multicastPort));
    if (d.multicastTtl) Check(nla_put_u8(m, IPVS_DAEMON_ATTR_MCAST_TTL, *d.multicastTtl));
  }
  nla_nest_end(m, nest);
}

// --- Decoding -------------------------------------------------------------

nla_policy AddressPolicy() {
  nla_policy p{};
  p.type = NLA_UNSPEC;
  p.minlen = 4;
  return p;
}

struct Policies {
  nla_policy command[IPVS_CMD_ATTR_MAX + 1]{};
  nla_policy service[IPVS_SVC_ATTR_MAX + 1]{};
  nla_policy destination[IPVS_DEST_ATTR_MAX + 1]{};
  nla_policy daemon[IPVS_DAEMON_ATTR_MAX + 1]{};
  nla_policy stats[IPVS_STATS_ATTR_MAX + 1]{};
  nla_policy stats64[IPVS_STATS_ATTR_MAX + 1]{};
  nla_policy info[IPVS_INFO_ATTR_MAX + 1]{};

  Policies() {
    command[IPVS_CMD_ATTR_SERVICE].type = NLA_NESTED;
    command[IPVS_CMD_ATTR_DEST].type = NLA_NESTED;
    command[IPVS_CMD_ATTR_DAEMON].type = NLA_NESTED;
    command[IPVS_CMD_ATTR_TIMEOUT_TCP].type = NLA_U32;
    command[IPVS_CMD_ATTR_TIMEOUT_TCP_FIN].type = NLA_U32;
    command[IPVS_CMD_ATTR_TIMEOUT_UDP].type = NLA_U32;

    service[IPVS_SVC_ATTR_AF].type = NLA_U16;
    service[IPVS_SVC_ATTR_PROTOCOL].type = NLA_U16;
    service[IPVS_SVC_ATTR_ADDR] = AddressPolicy();
    service[IPVS_SVC_ATTR_PORT].type = NLA_U16;
    service[IPVS_SVC_ATTR_FWMARK].type = NLA_U32;
    service[IPVS_SVC_ATTR_SCHED_NAME].type = NLA_STRING;
    service[IPVS_SVC_ATTR_FLAGS].minlen = sizeof(ip_vs_flags);
    service[IPVS_SVC_ATTR_TIMEOUT].type = NLA_U32;
    service[IPVS_SVC_ATTR_NETMASK].type = NLA_U32;
    service[IPVS_SVC_ATTR_STATS].type = NLA_NESTED;
    service[IPVS_SVC_ATTR_PE_NAME].type = NLA_STRING;
    service[IPVS_SVC_ATTR_STATS64].type = NLA_NESTED;

    destination[IPVS_DEST_ATTR_ADDR] = AddressPolicy();
    destination[IPVS_DEST_ATTR_PORT].type = NLA_U16;
    destination[IPVS_DEST_ATTR_FWD_METHOD].type = NLA_U32;
    destination[IPVS_DEST_ATTR_WEIGHT].type = NLA_U32;
    destination[IPVS_DEST_ATTR_U_THRESH].type = NLA_U32;
    destination[IPVS_DEST_ATTR_L_THRESH].type = NLA_U32;
    destination[IPVS_DEST_ATTR_ACTIVE_CONNS].type = NLA_U32;
    destination[IPVS_DEST_ATTR_INACT_CONNS].type = NLA_U32;
    destination[IPVS_DEST_ATTR_PERSIST_CONNS].type = NLA_U32;
    destination[IPVS_DEST_ATTR_STATS].type = NLA_NESTED;
    destination[IPVS_DEST_ATTR_ADDR_FAMILY].type = NLA_U16;
    destination[IPVS_DEST_ATTR_STATS64].type = NLA_NESTED;
    destination[IPVS_DEST_ATTR_TUN_TYPE].type = NLA_U8;
    destination[IPVS_DEST_ATTR_TUN_PORT].type = NLA_U16;
    destination[IPVS_DEST_ATTR_TUN_FLAGS].type = NLA_U16;

    daemon[IPVS_DAEMON_ATTR_STATE].type = NLA_U32;
    daemon[IPVS_DAEMON_ATTR_MCAST_IFN].type = NLA_STRING;
    daemon[IPVS_DAEMON_ATTR_SYNC_ID].type = NLA_U32;
    daemon[IPVS_DAEMON_ATTR_SYNC_MAXLEN].type = NLA_U16;
    daemon[IPVS_DAEMON_ATTR_MCAST_GROUP].minlen = 4;
    daemon[IPVS_DAEMON_ATTR_MCAST_GROUP6].minlen = 16;
    daemon[IPVS_DAEMON_ATTR_MCAST_PORT].type = NLA_U16;
    daemon[IPVS_DAEMON_ATTR_MCAST_TTL].type = NLA_U8;

    // In STATS the counters are u32 and only the byte counters u64.
    for (int i = IPVS_STATS_ATTR_CONNS; i <= IPVS_STATS_ATTR_OUTBPS; ++i) {
      stats[i].type = NLA_U32;
      stats64[i].type = NLA_U64;
    }
    stats[IPVS_STATS_ATTR_INBYTES].type = NLA_U64;
    stats[IPVS_STATS_ATTR_OUTBYTES].type = NLA_U64;

    info[IPVS_INFO_ATTR_VERSION].type = NLA_U32;
    info[IPVS_INFO_ATTR_CONN_TAB_SIZE].type = NLA_U32;
  }
};

const Policies& policies() {
  static const Policies p;
  return p;
}

// Parses the reply's top-level attributes if it is the expected command.
bool ParseTop(nlmsghdr* header, uint8_t command, nlattr** tb, int max, nla_policy* policy) {
  auto* genl = static_cast<genlmsghdr*>(nlmsg_data(header));
  if (!genlmsg_valid_hdr(header, 0) || genl->cmd != command) return false;
  return genlmsg_parse(header, 0, tb, max, policy) == 0;
}

uint64_t Counter(nlattr* a, bool is64) {
  if (a == nullptr) return 0;
  return is64 ? nla_get_u64(a) : nla_get_u32(a);
}

bool ParseStats(nlattr* statsAttr, nlattr* stats64Attr, std::optional<Stats>* out, bool* is64) {
  nlattr* source = stats64Attr != nullptr ? stats64Attr : statsAttr;
  if (source == nullptr) return true;
  const bool wide = stats64Attr != nullptr;
  nlattr* tb[IPVS_STATS_ATTR_MAX + 1];
  auto& p = policies();
  if (nla_parse_nested(tb, IPVS_STATS_ATTR_MAX, source, const_cast<nla_policy*>(wide ? p.stats64 : p.stats)) != 0)
    return false;
  Stats s;
  s.conns = Counter(tb[IPVS_STATS_ATTR_CONNS], wide);
  s.inpkts = Counter(tb[IPVS_STATS_ATTR_INPKTS], wide);
  s.outpkts = Counter(tb[IPVS_STATS_ATTR_OUTPKTS], wide);
  s.inbytes = Counter(tb[IPVS_STATS_ATTR_INBYTES], true);
  s.outbytes = Counter(tb[IPVS_STATS_ATTR_OUTBYTES], true);
  s.cps = Counter(tb[IPVS_STATS_ATTR_CPS], wide);
  s.inpps = Counter(tb[IPVS_STATS_ATTR_INPPS], wide);
  s.outpps = Counter(tb[IPVS_STATS_ATTR_OUTPPS], wide);
  s.inbps = Counter(tb[IPVS_STATS_ATTR_INBPS], wide);
  s.outbps = Counter(tb[IPVS_STATS_ATTR_OUTBPS], wide);
  *out = s;
  *is64 = wide;
  return true;
}

void GetAddress(nlattr* a, uint16_t family, Address* out) {
  out->family = family;
  out->bytes.fill(0);
  if (a != nullptr) std::memcpy(out->bytes.data(), nla_data(a), std::min<size_t>(nla_len(a), 16));
}

}  // namespace

Message BuildCommand(int family, uint8_t command) { return NewMessage(family, command); }

Message BuildWithServiceKey(int family, uint8_t command, const ServiceKey& key) {
  Message m = NewMessage(family, command);
  nlattr* nest = nla_nest_start(m.get(), IPVS_CMD_ATTR_SERVICE);
  if (nest == nullptr) throw std::bad_alloc();
  PutServiceKey(m.get(), key);
  nla_nest_end(m.get(), nest);
  return m;
}

Message BuildRequest(int family, const Request& r) {
  Message m = NewMessage(family, r.command);
  const bool destinationOp = r.command == IPVS_CMD_NEW_DEST || r.command == IPVS_CMD_SET_DEST ||
                             r.command == IPVS_CMD_DEL_DEST;
  if (r.service) PutService(m.get(), *r.service, r.serviceKeyOnly || destinationOp);
  if (r.destination) PutDestination(m.get(), *r.destination, r.command == IPVS_CMD_DEL_DEST);
  if (r.daemon) PutDaemon(m.get(), *r.daemon, r.command == IPVS_CMD_DEL_DAEMON);
  if (r.timeouts) {
    Check(nla_put_u32(m.get(), IPVS_CMD_ATTR_TIMEOUT_TCP, r.timeouts->tcp));
    Check(nla_put_u32(m.get(), IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, r.timeouts->tcpFin));
    Check(nla_put_u32(m.get(), IPVS_CMD_ATTR_TIMEOUT_UDP, r.timeouts->udp));
  }
  return m;
}

bool ParseService(nlmsghdr* header, Service* out) {
  auto& p = policies();
  nlattr* top[IPVS_CMD_ATTR_MAX + 1];
  if (!ParseTop(header, IPVS_CMD_NEW_SERVICE, top, IPVS_CMD_ATTR_MAX, const_cast<nla_policy*>(p.command)) ||
      top[IPVS_CMD_ATTR_SERVICE] == nullptr)
    return false;
  nlattr* tb[IPVS_SVC_ATTR_MAX + 1];
  if (nla_parse_nested(tb, IPVS_SVC_ATTR_MAX, top[IPVS_CMD_ATTR_SERVICE], const_cast<nla_policy*>(p.service)) != 0)
    return false;
  if (tb[IPVS_SVC_ATTR_AF] == nullptr || tb[IPVS_SVC_ATTR_SCHED_NAME] == nullptr) return false;

  Service s;
  s.key.family = nla_get_u16(tb[IPVS_SVC_ATTR_AF]);
  if (tb[IPVS_SVC_ATTR_FWMARK] != nullptr) s.key.fwmark = nla_get_u32(tb[IPVS_SVC_ATTR_FWMARK]);
  if (tb[IPVS_SVC_ATTR_PROTOCOL] != nullptr) s.key.protocol = nla_get_u16(tb[IPVS_SVC_ATTR_PROTOCOL]);
  GetAddress(tb[IPVS_SVC_ATTR_ADDR], s.key.family, &s.key.address);
  if (tb[IPVS_SVC_ATTR_PORT] != nullptr) s.key.port = ntohs(nla_get_u16(tb[IPVS_SVC_ATTR_PORT]));
  s.scheduler = nla_get_string(tb[IPVS_SVC_ATTR_SCHED_NAME]);
  if (tb[IPVS_SVC_ATTR_PE_NAME] != nullptr) s.persistenceEngine = nla_get_string(tb[IPVS_SVC_ATTR_PE_NAME]);
  if (tb[IPVS_SVC_ATTR_FLAGS] != nullptr) {
    ip_vs_flags flags;
    nla_memcpy(&flags, tb[IPVS_SVC_ATTR_FLAGS], sizeof(flags));
    s.flags = flags.flags;
  }
  if (tb[IPVS_SVC_ATTR_TIMEOUT] != nullptr) s.timeout = nla_get_u32(tb[IPVS_SVC_ATTR_TIMEOUT]);
  if (tb[IPVS_SVC_ATTR_NETMASK] != nullptr) {
    uint32_t mask = nla_get_u32(tb[IPVS_SVC_ATTR_NETMASK]);
    s.netmask = s.key.family == AF_INET ? ntohl(mask) : mask;
  }
  if (!ParseStats(tb[IPVS_SVC_ATTR_STATS], tb[IPVS_SVC_ATTR_STATS64], &s.stats, &s.stats64)) return false;
  *out = std::move(s);
  return true;
}

bool ParseDestination(nlmsghdr* header, uint16_t serviceFamily, Destination* out) {
  auto& p = policies();
  nlattr* top[IPVS_CMD_ATTR_MAX + 1];
  if (!ParseTop(header, IPVS_CMD_NEW_DEST, top, IPVS_CMD_ATTR_MAX, const_cast<nla_policy*>(p.command)) ||
      top[IPVS_CMD_ATTR_DEST] == nullptr)
    return false;
  nlattr* tb[IPVS_DEST_ATTR_MAX + 1];
  if (nla_parse_nested(tb, IPVS_DEST_ATTR_MAX, top[IPVS_CMD_ATTR_DEST], const_cast<nla_policy*>(p.destination)) != 0)
    return false;
  if (tb[IPVS_DEST_ATTR_ADDR] == nullptr || tb[IPVS_DEST_ATTR_PORT] == nullptr) return false;

  Destination d;
  // ADDR_FAMILY exists since 3.18; before that a destination has the service's family.
  uint16_t family = tb[IPVS_DEST_ATTR_ADDR_FAMILY] != nullptr ? nla_get_u16(tb[IPVS_DEST_ATTR_ADDR_FAMILY]) : serviceFamily;
  GetAddress(tb[IPVS_DEST_ATTR_ADDR], family, &d.address);
  d.port = ntohs(nla_get_u16(tb[IPVS_DEST_ATTR_PORT]));
  auto u32 = [&](int attr) { return tb[attr] != nullptr ? nla_get_u32(tb[attr]) : 0U; };
  d.forwardingMethod = u32(IPVS_DEST_ATTR_FWD_METHOD) & IP_VS_CONN_F_FWD_MASK;
  d.weight = u32(IPVS_DEST_ATTR_WEIGHT);
  d.upperThreshold = u32(IPVS_DEST_ATTR_U_THRESH);
  d.lowerThreshold = u32(IPVS_DEST_ATTR_L_THRESH);
  d.activeConns = u32(IPVS_DEST_ATTR_ACTIVE_CONNS);
  d.inactiveConns = u32(IPVS_DEST_ATTR_INACT_CONNS);
  d.persistentConns = u32(IPVS_DEST_ATTR_PERSIST_CONNS);
  if (tb[IPVS_DEST_ATTR_TUN_TYPE] != nullptr) d.tunnelType = nla_get_u8(tb[IPVS_DEST_ATTR_TUN_TYPE]);
  if (tb[IPVS_DEST_ATTR_TUN_PORT] != nullptr) d.tunnelPort = ntohs(nla_get_u16(tb[IPVS_DEST_ATTR_TUN_PORT]));
  if (tb[IPVS_DEST_ATTR_TUN_FLAGS] != nullptr) d.tunnelFlags = nla_get_u16(tb[IPVS_DEST_ATTR_TUN_FLAGS]);
  if (!ParseStats(tb[IPVS_DEST_ATTR_STATS], tb[IPVS_DEST_ATTR_STATS64], &d.stats, &d.stats64)) return false;
  *out = std::move(d);
  return true;
}

bool ParseDaemon(nlmsghdr* header, Daemon* out) {
  auto& p = policies();
  nlattr* top[IPVS_CMD_ATTR_MAX + 1];
  if (!ParseTop(header, IPVS_CMD_NEW_DAEMON, top, IPVS_CMD_ATTR_MAX, const_cast<nla_policy*>(p.command)) ||
      top[IPVS_CMD_ATTR_DAEMON] == nullptr)
    return false;
  nlattr* tb[IPVS_DAEMON_ATTR_MAX + 1];
  if (nla_parse_nested(tb, IPVS_DAEMON_ATTR_MAX, top[IPVS_CMD_ATTR_DAEMON], const_cast<nla_policy*>(p.daemon)) != 0)
    return false;
  if (tb[IPVS_DAEMON_ATTR_STATE] == nullptr) return false;
  Daemon d;
  d.state = nla_get_u32(tb[IPVS_DAEMON_ATTR_STATE]);
  if (tb[IPVS_DAEMON_ATTR_MCAST_IFN] != nullptr) d.multicastInterface = nla_get_string(tb[IPVS_DAEMON_ATTR_MCAST_IFN]);
  if (tb[IPVS_DAEMON_ATTR_SYNC_ID] != nullptr) d.syncId = nla_get_u32(tb[IPVS_DAEMON_ATTR_SYNC_ID]);
  if (tb[IPVS_DAEMON_ATTR_SYNC_MAXLEN] != nullptr) d.syncMaxLen = nla_get_u16(tb[IPVS_DAEMON_ATTR_SYNC_MAXLEN]);
  if (tb[IPVS_DAEMON_ATTR_MCAST_GROUP] != nullptr) {
    Address a;
    GetAddress(tb[IPVS_DAEMON_ATTR_MCAST_GROUP], AF_INET, &a);
    d.multicastGroup = a;
  } else if (tb[IPVS_DAEMON_ATTR_MCAST_GROUP6] != nullptr) {
    Address a;
    GetAddress(tb[IPVS_DAEMON_ATTR_MCAST_GROUP6], AF_INET6, &a);
    d.multicastGroup = a;
  }
  if (tb[IPVS_DAEMON_ATTR_MCAST_PORT] != nullptr) d.multicastPort = nla_get_u16(tb[IPVS_DAEMON_ATTR_MCAST_PORT]);
  if (tb[IPVS_DAEMON_ATTR_MCAST_TTL] != nullptr) d.multicastTtl = nla_get_u8(tb[IPVS_DAEMON_ATTR_MCAST_TTL]);
  *out = std::move(d);
  return true;
}

bool ParseTimeouts(nlmsghdr* header, Timeouts* out) {
  nlattr* top[IPVS_CMD_ATTR_MAX + 1];
  if (!ParseTop(header, IPVS_CMD_SET_CONFIG, top, IPVS_CMD_ATTR_MAX, const_cast<nla_policy*>(policies().command)))
    return false;
  auto u32 = [&](int attr) { return top[attr] != nullptr ? nla_get_u32(top[attr]) : 0U; };
  out->tcp = u32(IPVS_CMD_ATTR_TIMEOUT_TCP);
  out->tcpFin = u32(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN);
  out->udp = u32(IPVS_CMD_ATTR_TIMEOUT_UDP);
  return true;
}

bool ParseInfo(nlmsghdr* header, Info* out) {
  // GET_INFO's attribute ids collide with SERVICE/DEST: decoded with its own policy.
  nlattr* tb[IPVS_INFO_ATTR_MAX + 1];
  if (!ParseTop(header, IPVS_CMD_SET_INFO, tb, IPVS_INFO_ATTR_MAX, const_cast<nla_policy*>(policies().info)) ||
      tb[IPVS_INFO_ATTR_VERSION] == nullptr)
    return false;
  out->version = nla_get_u32(tb[IPVS_INFO_ATTR_VERSION]);
  out->connTableSize = tb[IPVS_INFO_ATTR_CONN_TAB_SIZE] != nullptr ? nla_get_u32(tb[IPVS_INFO_ATTR_CONN_TAB_SIZE]) : 0;
  return true;
}

}  // namespace ipvs
