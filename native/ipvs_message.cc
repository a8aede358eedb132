#include "ipvs_message.h"

#include <arpa/inet.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>

#include <cstring>

namespace ipvs {
namespace {

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

bool ParseService(nlmsghdr* header, Service* out) {  // legacy: removed when lib/ switches
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

bool ParseDestination(nlmsghdr* header, uint16_t serviceFamily, Destination* out) {  // legacy: removed when lib/ switches
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
