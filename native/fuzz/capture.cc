// Seed capture, part 2 (run by `scripts/fuzz --capture` inside the sandbox,
// after capture-table.js built the table): asks the kernel for everything the
// addon decodes, on a raw generic-netlink socket opened as the addon opens its
// own (NETLINK_EXT_ACK and NETLINK_CAP_ACK on), and prints the reply bytes,
// exactly as received, one seed a line:
//   SEED <target> <name> <hex>
// scripts/fuzz writes them to test/fuzz-corpus/<target>/<kernel>-<name>.
// Requests are encoded with the addon's own Writer (wire.h).
#include <linux/genetlink.h>
#include <linux/ip_vs.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../listing.h"
#include "../wire.h"

using namespace ipvs;

namespace {

using Bytes = std::vector<uint8_t>;

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "capture: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

// A prefix for every seed name (argv[1]: the second pass says "mixed-").
std::string prefix;

void Emit(const char* target, const std::string& name, const uint8_t* data, size_t length) {
  std::printf("SEED %s %s%s ", target, prefix.c_str(), name.c_str());
  for (size_t i = 0; i < length; ++i) std::printf("%02x", data[i]);
  std::printf("\n");
}
void Emit(const char* target, const std::string& name, const Bytes& b) { Emit(target, name, b.data(), b.size()); }

struct Socket {
  int fd = -1;
  uint32_t port = 0;
  uint32_t seq = 1000;
  uint16_t family = 0;

  explicit Socket(bool capAck) {
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
    if (fd < 0) Die("socket");
    int on = 1;
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof(on));
    if (capAck) setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof(on));
    timeval timeout{20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    socklen_t length = sizeof(local);
    if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0)
      Die("bind");
    port = local.nl_pid;
  }

  // Sends the messages of `request` in one sendmsg (`flags` on each, and
  // NLM_F_ACK on the last when `ack`), and returns the datagrams received
  // until the last one's answer ends (NLMSG_DONE or NLMSG_ERROR).
  std::vector<Bytes> Exchange(Bytes request, uint16_t flags, bool ack) {
    size_t offset = 0;
    uint32_t last = 0;
    while (offset < request.size()) {
      auto* h = reinterpret_cast<nlmsghdr*>(request.data() + offset);
      offset += NLMSG_ALIGN(h->nlmsg_len);
      if (h->nlmsg_type == 0) h->nlmsg_type = family;
      h->nlmsg_seq = last = ++seq;
      h->nlmsg_pid = port;
      h->nlmsg_flags = NLM_F_REQUEST | flags | (ack && offset >= request.size() ? NLM_F_ACK : 0);
    }
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (sendto(fd, request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0)
      Die("sendto");
    std::vector<Bytes> datagrams;
    for (;;) {
      Bytes buffer(64 * 1024);
      ssize_t got = recv(fd, buffer.data(), buffer.size(), 0);
      if (got < 0) Die("recv");
      buffer.resize(static_cast<size_t>(got));
      datagrams.push_back(buffer);
      int remaining = static_cast<int>(got);
      for (auto* h = reinterpret_cast<nlmsghdr*>(buffer.data()); NLMSG_OK(h, remaining); h = NLMSG_NEXT(h, remaining))
        if (h->nlmsg_seq == last && (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR)) return datagrams;
    }
  }
};

Bytes Message(uint8_t command) {
  Bytes b;
  Writer w(&b);
  w.Begin(command);
  w.End();
  return b;
}

// Every message of the datagrams.
std::vector<Bytes> Messages(const std::vector<Bytes>& datagrams) {
  std::vector<Bytes> out;
  for (const Bytes& d : datagrams) {
    int remaining = static_cast<int>(d.size());
    for (auto* h = reinterpret_cast<const nlmsghdr*>(d.data()); NLMSG_OK(h, remaining); h = NLMSG_NEXT(h, remaining)) {
      const auto* p = reinterpret_cast<const uint8_t*>(h);
      out.emplace_back(p, p + h->nlmsg_len);
    }
  }
  return out;
}

Bytes Concat(const std::vector<Bytes>& datagrams) {
  Bytes out;
  for (const Bytes& d : datagrams) out.insert(out.end(), d.begin(), d.end());
  return out;
}

// The messages of type `type` as seeds of `target`; the others (ACKs) as ack seeds.
void EmitMessages(const std::vector<Bytes>& datagrams, const char* target, const std::string& name) {
  int n = 0;
  for (const Bytes& m : Messages(datagrams)) {
    uint16_t type = reinterpret_cast<const nlmsghdr*>(m.data())->nlmsg_type;
    if (type == NLMSG_ERROR)
      Emit("ack", name + "-ack", m);
    else if (type != NLMSG_DONE)
      Emit(target, name + "-" + std::to_string(++n), m);
  }
}

// The STATS and STATS64 attributes of a service or destination nest, back to
// back, as the stats target reads them (`stats`/`stats64`: the nest's ids).
void EmitStats(const Bytes& message, uint16_t outer, int stats, int stats64, const std::string& name) {
  const auto* h = reinterpret_cast<const nlmsghdr*>(message.data());
  if (h->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN) return;
  Attributes<IPVS_CMD_ATTR_MAX> top;
  if (!top.Parse(message.data() + NLMSG_HDRLEN + GENL_HDRLEN, h->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN) ||
      top[outer] == nullptr)
    return;
  Attributes<IPVS_DEST_ATTR_MAX> a;
  if (!a.ParseNested(top[outer])) return;
  Bytes out;
  for (int id : {stats, stats64}) {
    if (a[id] == nullptr) continue;
    const auto* p = reinterpret_cast<const uint8_t*>(a[id]);
    out.insert(out.end(), p, p + NLA_ALIGN(a[id]->nla_len));
  }
  if (!out.empty()) Emit("stats", name, out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) prefix = argv[1];
  Socket s(true);

  // The family lookup, as NetlinkSession::ResolveFamily asks it.
  Bytes lookup;
  Writer w(&lookup);
  w.Begin(CTRL_CMD_GETFAMILY, GENL_ID_CTRL, 2);
  w.PutString(CTRL_ATTR_FAMILY_NAME, "IPVS");
  w.End();
  auto datagrams = s.Exchange(lookup, 0, true);
  for (const Bytes& m : Messages(datagrams)) {
    const auto* h = reinterpret_cast<const nlmsghdr*>(m.data());
    uint16_t id = 0;
    if (h->nlmsg_type == GENL_ID_CTRL) {
      Emit("family", "ipvs", m);
      Attributes<CTRL_ATTR_MAX> a;
      if (a.Parse(m.data() + NLMSG_HDRLEN + GENL_HDRLEN, m.size() - NLMSG_HDRLEN - GENL_HDRLEN) &&
          a[CTRL_ATTR_FAMILY_ID] != nullptr && ReadAttr(a[CTRL_ATTR_FAMILY_ID], &id))
        s.family = id;
    } else {
      Emit("ack", "family-ok", m);
    }
  }
  if (s.family == 0) {
    std::fprintf(stderr, "capture: no IPVS family\n");
    return 1;
  }
  lookup.clear();
  Writer w2(&lookup);
  w2.Begin(CTRL_CMD_GETFAMILY, GENL_ID_CTRL, 2);
  w2.PutString(CTRL_ATTR_FAMILY_NAME, "NOSUCHFAMILY");
  w2.End();
  EmitMessages(s.Exchange(lookup, 0, true), "family", "family-missing");

  EmitMessages(s.Exchange(Message(IPVS_CMD_GET_INFO), 0, true), "info", "info");
  EmitMessages(s.Exchange(Message(IPVS_CMD_GET_CONFIG), 0, true), "timeouts", "config");

  // Services: the dump as a whole (the dump target), each reply (service), their counters (stats).
  datagrams = s.Exchange(Message(IPVS_CMD_GET_SERVICE), NLM_F_DUMP, false);
  Emit("dump", "services", Concat(datagrams));
  std::vector<ServiceRecord> services;
  int n = 0;
  for (const Bytes& m : Messages(datagrams)) {
    if (reinterpret_cast<const nlmsghdr*>(m.data())->nlmsg_type != s.family) continue;
    ++n;
    Emit("service", "service-" + std::to_string(n), m);
    EmitStats(m, IPVS_CMD_ATTR_SERVICE, IPVS_SVC_ATTR_STATS, IPVS_SVC_ATTR_STATS64, "service-" + std::to_string(n));
    ServiceRecord record;
    if (DecodeService(reinterpret_cast<const nlmsghdr*>(m.data()), &record)) services.push_back(record);
  }

  // One service asked by its key (a reply then an ACK).
  if (!services.empty()) {
    Bytes get;
    Writer wg(&get);
    EncodeWithServiceKey(wg, IPVS_CMD_GET_SERVICE, services[0].key);
    EmitMessages(s.Exchange(get, 0, true), "service", "get-service");
  }

  // Destinations of every service.
  for (size_t i = 0; i < services.size(); ++i) {
    Bytes get;
    Writer wg(&get);
    EncodeWithServiceKey(wg, IPVS_CMD_GET_DEST, services[i].key);
    datagrams = s.Exchange(get, NLM_F_DUMP, false);
    std::string base = "dests-" + std::to_string(i + 1);
    auto messages = Messages(datagrams);
    if (messages.size() > 1) Emit("dump", base, Concat(datagrams));
    int d = 0;
    for (const Bytes& m : messages) {
      if (reinterpret_cast<const nlmsghdr*>(m.data())->nlmsg_type != s.family) continue;
      std::string name = base + "-" + std::to_string(++d);
      Emit("destination", name, m);
      EmitStats(m, IPVS_CMD_ATTR_DEST, IPVS_DEST_ATTR_STATS, IPVS_DEST_ATTR_STATS64, name);
    }
  }

  // Sync daemons.
  datagrams = s.Exchange(Message(IPVS_CMD_GET_DAEMON), NLM_F_DUMP, false);
  Emit("dump", "daemons", Concat(datagrams));
  EmitMessages(datagrams, "daemon", "daemon");

  // Refusals. An existing service (EEXIST) and a missing one (ESRCH).
  if (!services.empty()) {
    Bytes get;
    Writer wg(&get);
    ServiceKey missing = services[0].key;
    missing.port ^= 0x5555;
    missing.fwmark = missing.fwmark != 0 ? missing.fwmark ^ 0x5555 : 0;
    EncodeWithServiceKey(wg, IPVS_CMD_GET_SERVICE, missing);
    EmitMessages(s.Exchange(get, 0, true), "ack", "esrch");
    Bytes dests;
    Writer wd(&dests);
    EncodeWithServiceKey(wd, IPVS_CMD_GET_DEST, missing);
    Emit("dump", "dests-missing-service", Concat(s.Exchange(dests, NLM_F_DUMP, false)));
  }
  // A command that has no dump (its refusal ends the "dump").
  Emit("dump", "info-as-dump", Concat(s.Exchange(Message(IPVS_CMD_GET_INFO), NLM_F_DUMP, false)));
  // An attribute that fails the family's policy: the kernel's extended-ACK text and offset.
  auto malformed = [] {
    Bytes b;
    Writer wm(&b);
    wm.Begin(IPVS_CMD_SET_CONFIG);
    wm.PutU8(IPVS_CMD_ATTR_TIMEOUT_TCP, 1);
    wm.End();
    return b;
  };
  EmitMessages(s.Exchange(malformed(), 0, true), "ack", "policy-capped");
  // A nested attribute the kernel refuses: a service without its required fields.
  Bytes incomplete;
  Writer wi(&incomplete);
  wi.Begin(IPVS_CMD_NEW_SERVICE);
  size_t nest = wi.BeginNest(IPVS_CMD_ATTR_SERVICE);
  wi.PutU16(IPVS_SVC_ATTR_AF, AF_INET);
  wi.EndNest(nest);
  wi.End();
  EmitMessages(s.Exchange(incomplete, 0, true), "ack", "einval-capped");
  // An unknown command.
  EmitMessages(s.Exchange(Message(IPVS_CMD_MAX + 10), 0, true), "ack", "unknown-command");
  // A success ACK (SET_CONFIG of zeros changes nothing).
  Bytes ok;
  Writer wo(&ok);
  wo.Begin(IPVS_CMD_SET_CONFIG);
  wo.PutU32(IPVS_CMD_ATTR_TIMEOUT_TCP, 0);
  wo.End();
  EmitMessages(s.Exchange(ok, 0, true), "ack", "ok-capped");
  // A packed batch, as Execute sends one: only the last asks for an ACK; the
  // middle one fails (EEXIST, the first service again).
  if (!services.empty()) {
    Bytes batch;
    Writer wb(&batch);
    Request r;
    r.command = IPVS_CMD_NEW_SERVICE;
    Service svc;
    svc.key.family = AF_INET;
    svc.key.protocol = IPPROTO_TCP;
    svc.key.address.family = AF_INET;
    svc.key.address.bytes = {198, 18, 200, 1};
    svc.key.port = 1;
    svc.scheduler = "rr";
    svc.netmask = 0xffffffff;
    r.service = svc;
    EncodeRequest(wb, r);
    Service again;
    again.key = services[0].key;
    again.scheduler = "rr";
    again.netmask = again.key.family == AF_INET ? 0xffffffff : 128;
    r.service = again;
    EncodeRequest(wb, r);
    svc.key.port = 2;
    r.service = svc;
    EncodeRequest(wb, r);
    Emit("ack", "batch", Concat(s.Exchange(batch, 0, true)));
  }

  // The same refusals on a socket without NETLINK_CAP_ACK: the ACK echoes the request.
  Socket echo(false);
  echo.family = s.family;
  EmitMessages(echo.Exchange(malformed(), 0, true), "ack", "policy-echoed");
  EmitMessages(echo.Exchange(incomplete, 0, true), "ack", "einval-echoed");
  EmitMessages(echo.Exchange(ok, 0, true), "ack", "ok-echoed");
  std::fflush(stdout);
  return 0;
}
