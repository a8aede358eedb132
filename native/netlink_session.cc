#include "netlink_session.h"

#include <fcntl.h>
#include <linux/genetlink.h>
#include <linux/ip_vs.h>
#include <netlink/attr.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/socket.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace ipvs {
namespace {

// Dump replies are at most 32 KiB each (the kernel's cap); error ACKs are tiny
// with NETLINK_CAP_ACK. 64 KiB is enough for one datagram of either.
constexpr size_t kReceiveBufferSize = 64 * 1024;
// Socket buffers: large enough that the failure ACKs of a whole send buffer
// never overflow the receive queue.
constexpr int kSocketBufferSize = 8 * 1024 * 1024;
// Requests per sendmsg: bounds the ACKs one buffer can produce.
constexpr size_t kMaxMessagesPerSend = 512;
constexpr size_t kMaxBytesPerSend = 128 * 1024;
// No kernel answer within this time is treated as a lost reply.
constexpr int kReplyTimeoutMs = 60 * 1000;

constexpr const char* kUnavailable =
    "IPVS is not available in this network namespace: is the ip_vs module loaded?";

std::string ErrnoText(int error) { return std::strerror(error); }

[[noreturn]] void ThrowErrno(int error, const std::string& what, std::string extack = "") {
  throw SessionError(SessionError::Kind::Errno, error, what + ": " + ErrnoText(error),
                     std::move(extack));
}

void SetSocketBuffer(int fd, int forceOption, int option, int size) {
  // The FORCE variants pass the sysctl caps (they need CAP_NET_ADMIN, which
  // IPVS needs anyway); the plain ones are the fallback.
  if (setsockopt(fd, SOL_SOCKET, forceOption, &size, sizeof(size)) != 0)
    setsockopt(fd, SOL_SOCKET, option, &size, sizeof(size));
}

// Creates and connects the socket. Runs on a short-lived thread when a
// namespace is given, since setns() changes the calling thread's namespace.
int Connect(nl_sock** out, const std::string& netnsPath) {
  if (!netnsPath.empty()) {
    int nsfd = open(netnsPath.c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) return errno;
    int rc = setns(nsfd, CLONE_NEWNET);
    int saved = errno;
    close(nsfd);
    if (rc != 0) return saved;
  }
  nl_sock* sock = nl_socket_alloc();
  if (sock == nullptr) return ENOMEM;
  int rc = nl_connect(sock, NETLINK_GENERIC);
  if (rc < 0) {
    nl_socket_free(sock);
    return rc == -NLE_PERM ? EPERM : EPROTO;
  }
  *out = sock;
  return 0;
}

}  // namespace

int ErrorOf(nlmsghdr* header, std::string* extack) {
  if (header->nlmsg_len < NLMSG_HDRLEN + sizeof(nlmsgerr)) return EBADMSG;
  auto* err = static_cast<nlmsgerr*>(nlmsg_data(header));
  if (extack != nullptr && (header->nlmsg_flags & NLM_F_ACK_TLVS)) {
    // The TLVs follow the echoed request, or only its header when capped.
    size_t offset = NLMSG_HDRLEN + sizeof(nlmsgerr);
    if (!(header->nlmsg_flags & NLM_F_CAPPED)) offset += err->msg.nlmsg_len - sizeof(nlmsghdr);
    if (offset < header->nlmsg_len) {
      auto* tlvs = reinterpret_cast<nlattr*>(reinterpret_cast<uint8_t*>(header) + offset);
      nlattr* text = nla_find(tlvs, header->nlmsg_len - offset, NLMSGERR_ATTR_MSG);
      if (text != nullptr && nla_len(text) > 0)
        extack->assign(static_cast<const char*>(nla_data(text)), strnlen(static_cast<const char*>(nla_data(text)), nla_len(text)));
    }
  }
  return -err->error;
}

NetlinkSession::~NetlinkSession() { Close(); }

void NetlinkSession::Open(const std::string& netnsPath) {
  if (sock_ != nullptr) return;
  nl_sock* sock = nullptr;
  int error = 0;
  if (netnsPath.empty()) {
    error = Connect(&sock, netnsPath);
  } else {
    std::thread([&] { error = Connect(&sock, netnsPath); }).join();
  }
  if (error != 0)
    ThrowErrno(error, netnsPath.empty() ? "cannot open a generic netlink socket"
                                        : "cannot open a generic netlink socket in " + netnsPath);

  int family = genl_ctrl_resolve(sock, IPVS_GENL_NAME);
  if (family < 0) {
    nl_socket_free(sock);
    if (family == -NLE_OBJ_NOTFOUND)
      throw SessionError(SessionError::Kind::IpvsUnavailable, ENOENT, kUnavailable);
    throw SessionError(SessionError::Kind::Errno, EPROTO,
                       std::string("cannot resolve the IPVS generic netlink family: ") + nl_geterror(family));
  }

  int fd = nl_socket_get_fd(sock);
  int on = 1;
  // The kernel's own error text, and ACKs that do not echo the whole request.
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof(on));
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof(on));
  SetSocketBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, kSocketBufferSize);
  SetSocketBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, kSocketBufferSize);

  if (!netnsPath.empty()) {
    netnsFd_ = open(netnsPath.c_str(), O_RDONLY | O_CLOEXEC);
    if (netnsFd_ < 0) {
      int saved = errno;
      nl_socket_free(sock);
      ThrowErrno(saved, "cannot open " + netnsPath);
    }
  }
  sock_ = sock;
  fd_ = fd;
  family_ = family;
  port_ = nl_socket_get_local_port(sock);
  seq_ = static_cast<uint32_t>(time(nullptr));
  receiveBuffer_.resize(kReceiveBufferSize);
}

void NetlinkSession::Close() {
  if (netnsFd_ >= 0) close(netnsFd_);
  netnsFd_ = -1;
  if (sock_ == nullptr) return;
  nl_socket_free(sock_);  // closes the fd
  sock_ = nullptr;
  fd_ = -1;
}

std::string NetlinkSession::ReadNetFile(const std::string& name) {
  RequireOpen();
  for (char c : name)
    if (!(c == '_' || (c >= 'a' && c <= 'z'))) ThrowErrno(EINVAL, "invalid /proc/net file name");
  // /proc/thread-self/net is the calling thread's namespace: read it from a
  // thread that joined the session's namespace, when it has one.
  int error = 0;
  std::string text;
  auto read = [&] {
    if (netnsFd_ >= 0 && setns(netnsFd_, CLONE_NEWNET) != 0) {
      error = errno;
      return;
    }
    std::ifstream file("/proc/thread-self/net/" + name);
    if (!file) {
      error = errno ? errno : ENOENT;
      return;
    }
    std::ostringstream out;
    out << file.rdbuf();
    text = out.str();
  };
  if (netnsFd_ >= 0)
    std::thread(read).join();
  else
    read();
  if (error != 0) ThrowErrno(error, "cannot read /proc/net/" + name);
  return text;
}

void NetlinkSession::RequireOpen() const {
  if (sock_ == nullptr) throw SessionError(SessionError::Kind::Closed, EBADF, "the IPVS handle is closed");
}

uint32_t NetlinkSession::Stamp(nl_msg* message, int extraFlags) {
  nlmsghdr* header = nlmsg_hdr(message);
  if (seq_ == UINT32_MAX) seq_ = 0;
  uint32_t seq = ++seq_;  // never 0: that is what unsolicited messages carry
  header->nlmsg_seq = seq;
  header->nlmsg_pid = port_;
  header->nlmsg_flags |= NLM_F_REQUEST | extraFlags;
  return seq;
}

void NetlinkSession::Send(const uint8_t* data, size_t length) {
  for (;;) {
    int rc = nl_sendto(sock_, const_cast<uint8_t*>(data), length);
    if (rc >= 0) return;
    if (rc == -NLE_INTR) continue;
    int error = rc == -NLE_NOMEM ? ENOMEM : rc == -NLE_MSGSIZE ? EMSGSIZE : errno ? errno : EIO;
    ThrowErrno(error, "sending to the kernel failed");
  }
}

void NetlinkSession::ReceiveUntil(uint32_t firstSeq, uint32_t lastSeq,
                                  const std::function<bool(nlmsghdr*)>& handle) {
  for (;;) {
    pollfd pfd{fd_, POLLIN, 0};
    int ready = poll(&pfd, 1, kReplyTimeoutMs);
    if (ready < 0) {
      if (errno == EINTR) continue;
      ThrowErrno(errno, "waiting for the kernel's reply failed");
    }
    if (ready == 0) ThrowErrno(ETIMEDOUT, "the kernel did not answer");

    sockaddr_nl from{};
    iovec iov{receiveBuffer_.data(), receiveBuffer_.size()};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof(from);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t got = recvmsg(fd_, &msg, MSG_DONTWAIT);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      // ENOBUFS: replies were dropped, so the outcome of some requests is unknown.
      ThrowErrno(errno, "receiving from the kernel failed");
    }
    if (msg.msg_flags & MSG_TRUNC) ThrowErrno(EMSGSIZE, "a reply from the kernel was truncated");
    if (from.nl_pid != 0) continue;  // only the kernel talks to us

    int remaining = static_cast<int>(got);
    for (auto* header = reinterpret_cast<nlmsghdr*>(receiveBuffer_.data()); nlmsg_ok(header, remaining);
         header = nlmsg_next(header, &remaining)) {
      if (header->nlmsg_pid != port_) continue;
      if (header->nlmsg_seq < firstSeq || header->nlmsg_seq > lastSeq) continue;  // a stale reply
      if (handle(header)) return;
    }
  }
}

std::vector<Failure> NetlinkSession::Execute(const std::vector<nl_msg*>& messages) {
  RequireOpen();
  std::vector<Failure> failures;
  size_t next = 0;
  while (next < messages.size()) {
    // Pack a buffer. Its sequence numbers must not wrap, or the range check
    // in ReceiveUntil would drop its replies.
    if (seq_ > UINT32_MAX - kMaxMessagesPerSend - 2) seq_ = 0;
    size_t begin = next;
    sendBuffer_.clear();
    uint32_t firstSeq = 0, lastSeq = 0;
    while (next < messages.size() && next - begin < kMaxMessagesPerSend) {
      nlmsghdr* header = nlmsg_hdr(messages[next]);
      size_t length = NLMSG_ALIGN(header->nlmsg_len);
      if (next > begin && sendBuffer_.size() + length > kMaxBytesPerSend) break;
      uint32_t seq = Stamp(messages[next], 0);
      if (next == begin) firstSeq = seq;
      lastSeq = seq;
      size_t at = sendBuffer_.size();
      sendBuffer_.resize(at + length, 0);
      std::memcpy(sendBuffer_.data() + at, header, header->nlmsg_len);
      ++next;
    }
    // Only the last message asks for an ACK: its ACK ends this buffer's replies.
    reinterpret_cast<nlmsghdr*>(sendBuffer_.data() + sendBuffer_.size() -
                                NLMSG_ALIGN(nlmsg_hdr(messages[next - 1])->nlmsg_len))
        ->nlmsg_flags |= NLM_F_ACK;

    try {
      Send(sendBuffer_.data(), sendBuffer_.size());
      ReceiveUntil(firstSeq, lastSeq, [&](nlmsghdr* header) {
        if (header->nlmsg_type != NLMSG_ERROR) return false;
        std::string extack;
        int error = ErrorOf(header, &extack);
        if (error != 0)
          failures.push_back({static_cast<uint32_t>(begin + (header->nlmsg_seq - firstSeq)), error, extack});
        return header->nlmsg_seq == lastSeq;
      });
    } catch (const SessionError& e) {
      // The fate of this buffer's requests is unknown and the rest were not
      // sent: report every one of them rather than lose any silently.
      std::vector<bool> known(messages.size() - begin, false);
      for (const auto& f : failures)
        if (f.index >= begin) known[f.index - begin] = true;
      for (size_t i = begin; i < messages.size(); ++i)
        if (!known[i - begin]) failures.push_back({static_cast<uint32_t>(i), e.error, e.what()});
      return failures;
    }
  }
  return failures;
}

void NetlinkSession::Dump(nl_msg* message, const std::function<void(nlmsghdr*)>& onMessage) {
  RequireOpen();
  uint32_t seq = Stamp(message, NLM_F_DUMP);
  nlmsghdr* request = nlmsg_hdr(message);
  Send(reinterpret_cast<uint8_t*>(request), request->nlmsg_len);
  ReceiveUntil(seq, seq, [&](nlmsghdr* header) {
    if (header->nlmsg_type == NLMSG_DONE) {
      // A dump may end with an error in the DONE message's payload.
      if (header->nlmsg_len >= NLMSG_HDRLEN + sizeof(int)) {
        int error = *static_cast<int*>(nlmsg_data(header));
        if (error < 0) ThrowErrno(-error, "the kernel failed the dump");
      }
      return true;
    }
    if (header->nlmsg_type == NLMSG_ERROR) {
      std::string extack;
      int error = ErrorOf(header, &extack);
      if (error != 0) ThrowErrno(error, "the kernel refused the dump", extack);
      return false;
    }
    onMessage(header);
    return false;
  });
}

void NetlinkSession::Transact(nl_msg* message, const std::function<void(nlmsghdr*)>& onMessage) {
  RequireOpen();
  uint32_t seq = Stamp(message, NLM_F_ACK);
  nlmsghdr* request = nlmsg_hdr(message);
  Send(reinterpret_cast<uint8_t*>(request), request->nlmsg_len);
  ReceiveUntil(seq, seq, [&](nlmsghdr* header) {
    if (header->nlmsg_type == NLMSG_ERROR) {
      std::string extack;
      int error = ErrorOf(header, &extack);
      if (error != 0) ThrowErrno(error, "the kernel refused the request", extack);
      return true;
    }
    onMessage(header);
    return false;
  });
}

}  // namespace ipvs
