#include "netlink_session.h"

#include <fcntl.h>
#include <linux/genetlink.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "wire.h"

namespace ipvs {
namespace {

// recvmmsg slots: a dump reply is at most 32 KiB (the kernel's cap, reached
// only when the buffer offered is that large), so 64 KiB always holds one.
// Several slots let one syscall take a dump's data and its DONE, which the
// kernel queues while the data is being read.
constexpr size_t kReceiveSlots = 8;
constexpr size_t kReceiveSlotBytes = 64 * 1024;
// Socket buffers: large enough that the failure ACKs of a whole send buffer
// (512 of them, ~1 KiB of accounting each) never overflow the receive queue.
constexpr int kSocketBufferSize = 8 * 1024 * 1024;
// No kernel answer within this time is a lost reply. The kernel answers
// synchronously, so only a stuck kernel or a bug gets here.
constexpr int kReplyTimeoutSeconds = 60;

// The largest errno the kernel sends (MAX_ERRNO).
constexpr int kMaxErrno = 4095;

constexpr const char* kUnavailable =
    "IPVS is not available in this network namespace: is the ip_vs module loaded?";

std::string ErrnoText(int error) { return std::strerror(error); }

[[noreturn]] void ThrowErrno(int error, const std::string& what, std::string extack = "") {
  throw SessionError(SessionError::Kind::Errno, error, what + ": " + ErrnoText(error), std::move(extack));
}

void SetReceiveBuffer(int fd, int size) {
  // The FORCE variant passes the sysctl caps (it needs CAP_NET_ADMIN, which
  // IPVS needs anyway); the plain one is the fallback.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

// A bound NETLINK_GENERIC socket in the calling thread's namespace. Returns 0
// or an errno; `step` names what failed.
int CreateSocket(int receiveBufferBytes, int* fdOut, uint32_t* portOut, const char** step) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
  if (fd < 0) {
    *step = "socket";
    return errno;
  }
  int on = 1;
  // The kernel's own error text (4.12+), and ACKs that do not echo the whole
  // request; older kernels lack them and work without.
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof(on));
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof(on));
  if (receiveBufferBytes > 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receiveBufferBytes, sizeof(receiveBufferBytes));
  else
    SetReceiveBuffer(fd, kSocketBufferSize);
  int size = kSocketBufferSize;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  // Every wait is bounded: a blocking receive or send gives up after this.
  timeval timeout{kReplyTimeoutSeconds, 0};
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout)) != 0) {
    *step = "setsockopt";
    int saved = errno;
    close(fd);
    return saved;
  }
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  socklen_t length = sizeof(local);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) {
    *step = "bind";
    int saved = errno;
    close(fd);
    return saved;
  }
  *fdOut = fd;
  *portOut = local.nl_pid;
  return 0;
}

// Refuses anything but a network namespace before setns() sees it, so that a
// FIFO or a device never blocks a thread (the fd was opened O_NONBLOCK).
void CheckNetworkNamespace(int fd, const std::string& path) {
  int type = ioctl(fd, NS_GET_NSTYPE);
  if (type >= 0) {
    if (type != CLONE_NEWNET) ThrowErrno(EINVAL, path + " is not a network namespace");
    return;
  }
  // Kernels before 4.11 lack NS_GET_NSTYPE: any nsfs file is left to setns(),
  // which fails cleanly (EINVAL) for another namespace type.
  struct statfs fs {};
  if (fstatfs(fd, &fs) != 0 || fs.f_type != NSFS_MAGIC) ThrowErrno(EINVAL, path + " is not a network namespace");
}

}  // namespace

int ErrorOf(const nlmsghdr* header, std::string* extack) {
  if (header->nlmsg_len < NLMSG_HDRLEN + sizeof(nlmsgerr)) return EBADMSG;
  const auto* err = reinterpret_cast<const nlmsgerr*>(reinterpret_cast<const uint8_t*>(header) + NLMSG_HDRLEN);
  if (extack != nullptr && (header->nlmsg_flags & NLM_F_ACK_TLVS)) {
    // The TLVs follow the echoed request, or only its header when capped.
    size_t offset = NLMSG_HDRLEN + sizeof(nlmsgerr);
    if (!(header->nlmsg_flags & NLM_F_CAPPED)) offset += NLMSG_ALIGN(err->msg.nlmsg_len) - sizeof(nlmsghdr);
    if (offset < header->nlmsg_len) {
      Attributes<NLMSGERR_ATTR_MAX> tlvs;
      if (tlvs.Parse(reinterpret_cast<const uint8_t*>(header) + offset, header->nlmsg_len - offset) &&
          tlvs[NLMSGERR_ATTR_MSG] != nullptr)
        *extack = AttrString(tlvs[NLMSGERR_ATTR_MSG]);
    }
  }
  // The kernel sends 0 or a negative errno (at most 4095, MAX_ERRNO): anything
  // else is a message that does not parse, never a negative "errno" for the
  // caller (nor -INT_MIN).
  if (err->error > 0 || err->error < -kMaxErrno) return EBADMSG;
  return -err->error;
}

bool DecodeFamilyId(const nlmsghdr* header, uint16_t* id) {
  if (header->nlmsg_type != GENL_ID_CTRL || header->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN) return false;
  Attributes<CTRL_ATTR_MAX> a;
  const uint8_t* payload = reinterpret_cast<const uint8_t*>(header) + NLMSG_HDRLEN + GENL_HDRLEN;
  return a.Parse(payload, header->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN) && a[CTRL_ATTR_FAMILY_ID] != nullptr &&
         ReadAttr(a[CTRL_ATTR_FAMILY_ID], id);
}

bool ForEachReply(uint8_t* datagram, size_t length, uint32_t port, uint32_t firstSeq, uint32_t lastSeq,
                  const std::function<bool(nlmsghdr*)>& handle) {
  auto* header = reinterpret_cast<nlmsghdr*>(datagram);
  int remaining = static_cast<int>(length);
  for (; NLMSG_OK(header, remaining); header = NLMSG_NEXT(header, remaining)) {
    if (header->nlmsg_pid != port) continue;
    if (header->nlmsg_seq < firstSeq || header->nlmsg_seq > lastSeq) continue;  // a stale reply
    if (handle(header)) return true;
  }
  return false;
}

bool DumpEnded(const nlmsghdr* header, int* error, std::string* extack) {
  if (header->nlmsg_type == NLMSG_DONE) {
    // A dump may end with an error in the DONE message's payload.
    if (header->nlmsg_len >= NLMSG_HDRLEN + sizeof(int)) {
      int code;
      std::memcpy(&code, reinterpret_cast<const uint8_t*>(header) + NLMSG_HDRLEN, sizeof(code));
      if (code < 0) *error = code < -kMaxErrno ? EBADMSG : -code;
    }
    return true;
  }
  if (header->nlmsg_type == NLMSG_ERROR) {
    *error = ErrorOf(header, extack);  // the dump did not start
    return true;
  }
  return false;
}

NetlinkSession::~NetlinkSession() { Close(); }

void NetlinkSession::Open(const std::string& netnsPath) {
  if (open_) return;
  try {
    if (!netnsPath.empty()) {
      netnsFd_ = open(netnsPath.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
      if (netnsFd_ < 0) ThrowErrno(errno, "cannot open " + netnsPath);
      CheckNetworkNamespace(netnsFd_, netnsPath);
    }
    receiveBuffer_.resize(kReceiveSlots * kReceiveSlotBytes);
    receiveHeaders_.resize(kReceiveSlots);
    receiveVectors_.resize(kReceiveSlots);
    OpenSocket();
    seq_ = static_cast<uint32_t>(time(nullptr));
    ResolveFamily();
  } catch (...) {
    Close();
    throw;
  }
  open_ = true;
}

void NetlinkSession::OpenSocket() {
  int error = 0;
  const char* step = "";
  int fd = -1;
  uint32_t port = 0;
  if (netnsFd_ < 0) {
    error = CreateSocket(faults_.receiveBufferBytes, &fd, &port, &step);
  } else {
    // setns() changes the calling thread's namespace: a short-lived thread
    // joins it, and the socket stays bound to it after the thread ends.
    std::thread([&] {
      if (setns(netnsFd_, CLONE_NEWNET) != 0) {
        error = errno;
        step = "setns";
      } else {
        error = CreateSocket(faults_.receiveBufferBytes, &fd, &port, &step);
      }
    }).join();
  }
  if (error == EINVAL && std::strcmp(step, "setns") == 0) ThrowErrno(error, "the path is not a network namespace");
  if (error != 0) ThrowErrno(error, std::string("cannot open a generic netlink socket (") + step + ")");
  fd_ = fd;
  port_ = port;
}

void NetlinkSession::CloseSocket() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void NetlinkSession::ResolveFamily() {
  std::vector<uint8_t> message;
  Writer w(&message);
  w.Begin(CTRL_CMD_GETFAMILY, GENL_ID_CTRL, 2);
  w.PutString(CTRL_ATTR_FAMILY_NAME, "IPVS");
  w.End();
  int family = -1;
  try {
    TransactOnSocket(reinterpret_cast<nlmsghdr*>(message.data()), [&](nlmsghdr* header) {
      uint16_t id = 0;
      if (DecodeFamilyId(header, &id)) family = id;
    });
  } catch (const SessionError& e) {
    // The controller answers ENOENT for a family it does not know (after
    // trying to load its module).
    if (e.error == ENOENT) throw SessionError(SessionError::Kind::IpvsUnavailable, ENOENT, kUnavailable, e.extack);
    throw SessionError(e.kind, e.error, std::string("cannot resolve the IPVS generic netlink family: ") + e.what(),
                       e.extack);
  }
  if (family < 0) ThrowErrno(EBADMSG, "cannot resolve the IPVS generic netlink family: the reply does not parse");
  family_ = family;
}

void NetlinkSession::Close() {
  if (netnsFd_ >= 0) close(netnsFd_);
  netnsFd_ = -1;
  CloseSocket();
  open_ = false;
  broken_ = false;
  // The receive slots (512 KiB) go now, not when the JS object is collected:
  // a closed handle is small, so the GC may keep it for a long time.
  std::vector<uint8_t>().swap(receiveBuffer_);
  std::vector<mmsghdr>().swap(receiveHeaders_);
  std::vector<iovec>().swap(receiveVectors_);
}

void NetlinkSession::SetFaults(const Faults& faults) {
  faults_ = faults;
  if (fd_ < 0) return;
  if (faults.receiveBufferBytes > 0)
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &faults.receiveBufferBytes, sizeof(faults.receiveBufferBytes));
  else
    SetReceiveBuffer(fd_, kSocketBufferSize);
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

void NetlinkSession::RequireOpen() {
  if (!open_) throw SessionError(SessionError::Kind::Closed, EBADF, "the IPVS handle is not open");
  if (broken_) {
    // After a failure mid-dump or mid-batch the kernel may still be writing
    // to the old socket (a dump left running answers EBUSY to the next one).
    // We close and reopen it in the same namespace rather than drain it: a
    // drain of a large dump takes as long as the dump itself, and after a
    // timeout or a lost reply nothing says the old socket would ever settle.
    CloseSocket();
    OpenSocket();
    broken_ = false;
  }
}

void NetlinkSession::Stamp(nlmsghdr* header, uint32_t seq, uint16_t extraFlags) {
  if (header->nlmsg_type == 0) header->nlmsg_type = static_cast<uint16_t>(family_);
  header->nlmsg_seq = seq;
  header->nlmsg_pid = port_;
  header->nlmsg_flags = NLM_F_REQUEST | extraFlags;
}

int NetlinkSession::SendRaw(const void* data, size_t length) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  iovec iov{const_cast<void*>(data), length};
  msghdr msg{};
  msg.msg_name = &kernel;
  msg.msg_namelen = sizeof(kernel);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  for (;;) {
    if (sendmsg(fd_, &msg, 0) >= 0) return 0;
    if (errno == EINTR) continue;
    return errno == EAGAIN ? ETIMEDOUT : errno;  // EAGAIN: SO_SNDTIMEO ran out
  }
}

void NetlinkSession::Send(const void* data, size_t length) {
  int error = SendRaw(data, length);
  if (error != 0) ThrowErrno(error, "sending to the kernel failed");
}

int NetlinkSession::ReceiveRaw(bool dontWait) {
  for (size_t i = 0; i < kReceiveSlots; ++i) {
    receiveVectors_[i] = {receiveBuffer_.data() + i * kReceiveSlotBytes, kReceiveSlotBytes};
    receiveHeaders_[i] = {};
    receiveHeaders_[i].msg_hdr.msg_iov = &receiveVectors_[i];
    receiveHeaders_[i].msg_hdr.msg_iovlen = 1;
  }
  for (;;) {
    // MSG_WAITFORONE: block (up to SO_RCVTIMEO) for the first datagram only.
    int got = recvmmsg(fd_, receiveHeaders_.data(), kReceiveSlots, dontWait ? MSG_DONTWAIT : MSG_WAITFORONE, nullptr);
    if (got >= 0) return got;
    if (errno != EINTR) return -errno;
  }
}

void NetlinkSession::ReceiveUntil(uint32_t firstSeq, uint32_t lastSeq, const std::function<bool(nlmsghdr*)>& handle) {
  try {
    for (;;) {
      int got = ReceiveRaw(false);
      if (got == -EAGAIN) ThrowErrno(ETIMEDOUT, "the kernel did not answer");
      if (got == -ENOBUFS) ThrowErrno(ENOBUFS, "the kernel's replies overflowed the receive queue");
      if (got < 0) ThrowErrno(-got, "receiving from the kernel failed");
      for (int i = 0; i < got; ++i) {
        if (receiveHeaders_[i].msg_hdr.msg_flags & MSG_TRUNC) ThrowErrno(EMSGSIZE, "a reply from the kernel was truncated");
        if (ForEachReply(receiveBuffer_.data() + i * kReceiveSlotBytes, receiveHeaders_[i].msg_len, port_, firstSeq,
                         lastSeq, handle))
          return;
      }
    }
  } catch (...) {
    broken_ = true;  // the rest of the answer may still come: RequireOpen reopens
    throw;
  }
}

std::vector<Failure> NetlinkSession::Execute(Batch& batch) {
  RequireOpen();
  std::vector<Failure> failures;
  int stopError = 0;
  std::string stopMessage;
  for (Batch::Buffer& buffer : batch.buffers) {
    if (stopError != 0) {
      for (uint32_t index : buffer.indices)
        failures.push_back({index, stopError, Outcome::Unsent, "", "not sent: " + stopMessage});
    } else {
      ExecuteBuffer(buffer, &failures, &stopError, &stopMessage);
    }
    buffer = Batch::Buffer();  // sent: free it now
  }
  failures.insert(failures.end(), batch.invalid.begin(), batch.invalid.end());
  std::stable_sort(failures.begin(), failures.end(), [](const Failure& a, const Failure& b) { return a.index < b.index; });
  return failures;
}

void NetlinkSession::ExecuteBuffer(Batch::Buffer& buffer, std::vector<Failure>* failures, int* stopError,
                                   std::string* stopMessage) {
  const size_t count = buffer.indices.size();
  if (count == 0) return;
  // The buffer's sequence numbers must not wrap, or the range check would
  // drop its replies.
  if (seq_ > UINT32_MAX - count - 1) seq_ = 0;
  const uint32_t firstSeq = seq_ + 1;
  const uint32_t lastSeq = firstSeq + static_cast<uint32_t>(count) - 1;
  size_t offset = 0;
  for (size_t i = 0; i < count; ++i) {
    auto* header = reinterpret_cast<nlmsghdr*>(buffer.bytes.data() + offset);
    // Only the last message asks for an ACK: the kernel answers the others
    // only when they fail, and that last ACK ends this buffer's replies.
    Stamp(header, NextSeq(), i + 1 == count ? NLM_F_ACK : 0);
    offset += NLMSG_ALIGN(header->nlmsg_len);
  }

  int error = SendRaw(buffer.bytes.data(), buffer.bytes.size());
  if (error != 0) {
    // The kernel processes a buffer inside sendmsg(), so a failed sendmsg
    // applied none of it.
    *stopError = error;
    *stopMessage = "sending to the kernel failed: " + ErrnoText(error);
    for (uint32_t index : buffer.indices) failures->push_back({index, error, Outcome::Unsent, "", *stopMessage});
    return;
  }

  std::vector<char> answered(count, 0);
  // The kernel queues every answer to a buffer before sendmsg() returns. So
  // once the queue overflowed (ENOBUFS), reading it until empty gets every
  // answer that survived, and the requests without one are unknown.
  bool overflowed = false;
  bool done = false;
  while (!done) {
    int got = ReceiveRaw(overflowed);
    if (got == -ENOBUFS) {
      overflowed = true;
      continue;
    }
    if (got == -EAGAIN && overflowed) break;
    int cause = got >= 0 ? 0 : got == -EAGAIN ? ETIMEDOUT : -got;  // EAGAIN: SO_RCVTIMEO ran out
    for (int d = 0; d < got && !done; ++d) {
      if (receiveHeaders_[d].msg_hdr.msg_flags & MSG_TRUNC) {
        cause = EMSGSIZE;
        break;
      }
      done = ForEachReply(receiveBuffer_.data() + d * kReceiveSlotBytes, receiveHeaders_[d].msg_len, port_, firstSeq,
                          lastSeq, [&](nlmsghdr* header) {
                            if (header->nlmsg_type != NLMSG_ERROR) return false;
                            size_t i = header->nlmsg_seq - firstSeq;
                            answered[i] = 1;
                            std::string extack;
                            int refused = ErrorOf(header, &extack);
                            if (refused != 0)
                              failures->push_back({buffer.indices[i], refused, Outcome::Refused, std::move(extack), ""});
                            return header->nlmsg_seq == lastSeq;
                          });
    }
    if (cause == 0) continue;
    // A timeout or a socket error: the answers still missing may come later
    // or never. Stop the batch and reopen the socket before the next call.
    broken_ = true;
    *stopError = cause;
    *stopMessage = "receiving the kernel's answers failed: " + ErrnoText(cause);
    for (size_t i = 0; i < count; ++i)
      if (!answered[i])
        failures->push_back({buffer.indices[i], cause, Outcome::Unknown, "",
                             "sent, but its answer was not received (" + ErrnoText(cause) + "): it may or may not be applied"});
    return;
  }
  if (overflowed)
    for (size_t i = 0; i < count; ++i)
      if (!answered[i])
        failures->push_back({buffer.indices[i], ENOBUFS, Outcome::Unknown, "",
                             "sent, but its answer may have been lost: the kernel's replies overflowed the receive "
                             "queue (ENOBUFS); it may or may not be applied"});
}

void NetlinkSession::Dump(nlmsghdr* request, const std::function<void(nlmsghdr*)>& onMessage) {
  RequireOpen();
  uint32_t seq = NextSeq();
  Stamp(request, seq, NLM_F_DUMP);
  Send(request, request->nlmsg_len);
  int error = 0;
  std::string extack;
  int seen = 0;
  ReceiveUntil(seq, seq, [&](nlmsghdr* header) {
    if (DumpEnded(header, &error, &extack)) return true;
    if (faults_.failDumpAfterMessages >= 0 && seen++ >= faults_.failDumpAfterMessages) {
      faults_.failDumpAfterMessages = -1;
      ThrowErrno(EBADMSG, "test fault: the kernel sent a reply that does not parse");
    }
    onMessage(header);
    return false;
  });
  if (error != 0) ThrowErrno(error, "the kernel refused the dump", extack);
}

void NetlinkSession::Transact(nlmsghdr* request, const std::function<void(nlmsghdr*)>& onMessage) {
  RequireOpen();
  TransactOnSocket(request, onMessage);
}

void NetlinkSession::TransactOnSocket(nlmsghdr* request, const std::function<void(nlmsghdr*)>& onMessage) {
  uint32_t seq = NextSeq();
  Stamp(request, seq, NLM_F_ACK);
  Send(request, request->nlmsg_len);
  int error = 0;
  std::string extack;
  ReceiveUntil(seq, seq, [&](nlmsghdr* header) {
    if (header->nlmsg_type == NLMSG_ERROR) {
      error = ErrorOf(header, &extack);
      return true;
    }
    onMessage(header);
    return false;
  });
  if (error != 0) ThrowErrno(error, "the kernel refused the request", extack);
}

}  // namespace ipvs
