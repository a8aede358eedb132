#include "wire.h"

#include <arpa/inet.h>
#include <linux/genetlink.h>
#include <linux/ip_vs.h>

namespace ipvs {

void Writer::Begin(uint8_t command, uint16_t type, uint8_t version) {
  start_ = out_->size();
  out_->resize(start_ + NLMSG_HDRLEN + GENL_HDRLEN, 0);
  auto* header = reinterpret_cast<nlmsghdr*>(out_->data() + start_);
  header->nlmsg_type = type;
  auto* genl = reinterpret_cast<genlmsghdr*>(out_->data() + start_ + NLMSG_HDRLEN);
  genl->cmd = command;
  genl->version = version;
}

void Writer::End() {
  size_t length = out_->size() - start_;
  if (length > kMaxMessageBytes)
    throw EncodeError(EMSGSIZE, "the request does not fit in one netlink message (" +
                                    std::to_string(kMaxMessageBytes) + " bytes)");
  reinterpret_cast<nlmsghdr*>(out_->data() + start_)->nlmsg_len = static_cast<uint32_t>(length);
}

void Writer::Put(uint16_t type, const void* data, size_t length) {
  // An attribute's length is 16 bits; past the message cap it cannot be sent either.
  if (length > kMaxMessageBytes)
    throw EncodeError(EMSGSIZE, "an attribute of " + std::to_string(length) + " bytes does not fit in a netlink message");
  size_t at = out_->size();
  out_->resize(at + NLA_HDRLEN + NLA_ALIGN(length), 0);
  auto* a = reinterpret_cast<nlattr*>(out_->data() + at);
  a->nla_len = static_cast<uint16_t>(NLA_HDRLEN + length);
  a->nla_type = type;
  if (length > 0) std::memcpy(out_->data() + at + NLA_HDRLEN, data, length);
}

void Writer::PutString(uint16_t type, const std::string& s) { Put(type, s.c_str(), s.size() + 1); }

size_t Writer::BeginNest(uint16_t type) {
  size_t at = out_->size();
  Put(type, nullptr, 0);  // no NLA_F_NESTED, as libnl and ipvsadm send it
  return at;
}

void Writer::EndNest(size_t at) {
  size_t length = out_->size() - at;
  if (length > 0xffff) throw EncodeError(EMSGSIZE, "a nested attribute does not fit in a netlink message");
  reinterpret_cast<nlattr*>(out_->data() + at)->nla_len = static_cast<uint16_t>(length);
}

namespace {

void PutServiceKey(Writer& w, const ServiceKey& key) {
  w.PutU16(IPVS_SVC_ATTR_AF, key.family);
  if (key.fwmark != 0) {
    w.PutU32(IPVS_SVC_ATTR_FWMARK, key.fwmark);
  } else {
    w.PutU16(IPVS_SVC_ATTR_PROTOCOL, key.protocol);
    w.Put(IPVS_SVC_ATTR_ADDR, key.address.bytes.data(), key.address.bytes.size());
    w.PutU16(IPVS_SVC_ATTR_PORT, htons(key.port));
  }
}

void PutService(Writer& w, const Service& s, bool keyOnly) {
  size_t nest = w.BeginNest(IPVS_CMD_ATTR_SERVICE);
  PutServiceKey(w, s.key);
  if (!keyOnly) {
    w.PutString(IPVS_SVC_ATTR_SCHED_NAME, s.scheduler);
    if (!s.persistenceEngine.empty()) w.PutString(IPVS_SVC_ATTR_PE_NAME, s.persistenceEngine);
    ip_vs_flags flags{s.flags, ~0U};
    w.Put(IPVS_SVC_ATTR_FLAGS, &flags, sizeof(flags));
    w.PutU32(IPVS_SVC_ATTR_TIMEOUT, s.timeout);
    w.PutU32(IPVS_SVC_ATTR_NETMASK, s.key.family == AF_INET ? htonl(s.netmask) : s.netmask);
  }
  w.EndNest(nest);
}

void PutDestination(Writer& w, const Destination& d, bool keyOnly) {
  size_t nest = w.BeginNest(IPVS_CMD_ATTR_DEST);
  w.Put(IPVS_DEST_ATTR_ADDR, d.address.bytes.data(), d.address.bytes.size());
  w.PutU16(IPVS_DEST_ATTR_PORT, htons(d.port));
  if (d.address.family != 0) w.PutU16(IPVS_DEST_ATTR_ADDR_FAMILY, d.address.family);
  if (!keyOnly) {
    w.PutU32(IPVS_DEST_ATTR_FWD_METHOD, d.forwardingMethod);
    w.PutU32(IPVS_DEST_ATTR_WEIGHT, d.weight);
    w.PutU32(IPVS_DEST_ATTR_U_THRESH, d.upperThreshold);
    w.PutU32(IPVS_DEST_ATTR_L_THRESH, d.lowerThreshold);
    if (d.tunnelType) w.PutU8(IPVS_DEST_ATTR_TUN_TYPE, *d.tunnelType);
    if (d.tunnelPort) w.PutU16(IPVS_DEST_ATTR_TUN_PORT, htons(*d.tunnelPort));
    if (d.tunnelFlags) w.PutU16(IPVS_DEST_ATTR_TUN_FLAGS, *d.tunnelFlags);
  }
  w.EndNest(nest);
}

void PutDaemon(Writer& w, const Daemon& d, bool stateOnly) {
  size_t nest = w.BeginNest(IPVS_CMD_ATTR_DAEMON);
  w.PutU32(IPVS_DAEMON_ATTR_STATE, d.state);
  if (!stateOnly) {
    w.PutString(IPVS_DAEMON_ATTR_MCAST_IFN, d.multicastInterface);
    w.PutU32(IPVS_DAEMON_ATTR_SYNC_ID, d.syncId);
    if (d.syncMaxLen) w.PutU16(IPVS_DAEMON_ATTR_SYNC_MAXLEN, *d.syncMaxLen);
    if (d.multicastGroup) {
      if (d.multicastGroup->family == AF_INET6)
        w.Put(IPVS_DAEMON_ATTR_MCAST_GROUP6, d.multicastGroup->bytes.data(), 16);
      else
        w.Put(IPVS_DAEMON_ATTR_MCAST_GROUP, d.multicastGroup->bytes.data(), 4);
    }
    if (d.multicastPort) w.PutU16(IPVS_DAEMON_ATTR_MCAST_PORT, *d.multicastPort);
    if (d.multicastTtl) w.PutU8(IPVS_DAEMON_ATTR_MCAST_TTL, *d.multicastTtl);
  }
  w.EndNest(nest);
}

}  // namespace

void EncodeRequest(Writer& w, const Request& r) {
  w.Begin(r.command);
  const bool destinationOp = r.command == IPVS_CMD_NEW_DEST || r.command == IPVS_CMD_SET_DEST ||
                             r.command == IPVS_CMD_DEL_DEST;
  if (r.service) PutService(w, *r.service, r.serviceKeyOnly || destinationOp);
  if (r.destination) PutDestination(w, *r.destination, r.command == IPVS_CMD_DEL_DEST);
  if (r.daemon) PutDaemon(w, *r.daemon, r.command == IPVS_CMD_DEL_DAEMON);
  if (r.timeouts) {
    w.PutU32(IPVS_CMD_ATTR_TIMEOUT_TCP, r.timeouts->tcp);
    w.PutU32(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, r.timeouts->tcpFin);
    w.PutU32(IPVS_CMD_ATTR_TIMEOUT_UDP, r.timeouts->udp);
  }
  w.End();
}

void EncodeWithServiceKey(Writer& w, uint8_t command, const ServiceKey& key) {
  w.Begin(command);
  size_t nest = w.BeginNest(IPVS_CMD_ATTR_SERVICE);
  PutServiceKey(w, key);
  w.EndNest(nest);
  w.End();
}

}  // namespace ipvs
