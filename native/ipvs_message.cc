#include "ipvs_message.h"

#include <arpa/inet.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>

#include <cstring>

namespace ipvs {
namespace {

struct Policies {
  nla_policy command[IPVS_CMD_ATTR_MAX + 1]{};
  nla_policy daemon[IPVS_DAEMON_ATTR_MAX + 1]{};
  nla_policy info[IPVS_INFO_ATTR_MAX + 1]{};

  Policies() {
    command[IPVS_CMD_ATTR_SERVICE].type = NLA_NESTED;
    command[IPVS_CMD_ATTR_DEST].type = NLA_NESTED;
    command[IPVS_CMD_ATTR_DAEMON].type = NLA_NESTED;
    command[IPVS_CMD_ATTR_TIMEOUT_TCP].type = NLA_U32;
    command[IPVS_CMD_ATTR_TIMEOUT_TCP_FIN].type = NLA_U32;
    command[IPVS_CMD_ATTR_TIMEOUT_UDP].type = NLA_U32;

    daemon[IPVS_DAEMON_ATTR_STATE].type = NLA_U32;
    daemon[IPVS_DAEMON_ATTR_MCAST_IFN].type = NLA_STRING;
    daemon[IPVS_DAEMON_ATTR_SYNC_ID].type = NLA_U32;
    daemon[IPVS_DAEMON_ATTR_SYNC_MAXLEN].type = NLA_U16;
    daemon[IPVS_DAEMON_ATTR_MCAST_GROUP].minlen = 4;
    daemon[IPVS_DAEMON_ATTR_MCAST_GROUP6].minlen = 16;
    daemon[IPVS_DAEMON_ATTR_MCAST_PORT].type = NLA_U16;
    daemon[IPVS_DAEMON_ATTR_MCAST_TTL].type = NLA_U8;

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

void GetAddress(nlattr* a, uint16_t family, Address* out) {
  out->family = family;
  out->bytes.fill(0);
  if (a != nullptr) std::memcpy(out->bytes.data(), nla_data(a), std::min<size_t>(nla_len(a), 16));
}

}  // namespace

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
