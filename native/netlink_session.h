// One generic-netlink socket talking to one network namespace's IPVS family.
// Used from worker threads only, one at a time (callers hold `mutex`).
#pragma once

#include <linux/netlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "ipvs_types.h"

namespace ipvs {

// A failure of a whole operation: errno as the kernel or a syscall gave it,
// with the kernel's extended-ACK text when it sent one.
struct SessionError : std::runtime_error {
  enum class Kind { Errno, IpvsUnavailable, Closed };
  SessionError(Kind kind, int error, const std::string& message, std::string extack = "")
      : std::runtime_error(message), kind(kind), error(error), extack(std::move(extack)) {}
  Kind kind;
  int error;  // positive errno
  std::string extack;
};

class NetlinkSession {
 public:
  NetlinkSession() = default;
  ~NetlinkSession();
  NetlinkSession(const NetlinkSession&) = delete;
  NetlinkSession& operator=(const NetlinkSession&) = delete;

  // Opens the socket (inside the network namespace at `netnsPath` when not
  // empty) and resolves the IPVS family. Throws SessionError.
  void Open(const std::string& netnsPath);
  void Close();
  bool IsOpen() const { return sock_ != nullptr; }
  int family() const { return family_; }

  // Sends every request, many per sendmsg, with an ACK asked only of the last
  // message of each buffer: the kernel answers only the failed ones, so the
  // replies tell exactly which requests failed. Returns those failures.
  std::vector<Failure> Execute(const std::vector<nl_msg*>& messages);

  // A dump request: calls onMessage for every reply until NLMSG_DONE.
  void Dump(nl_msg* message, const std::function<void(nlmsghdr*)>& onMessage);

  // A request answered by zero or more replies and then an ACK.
  void Transact(nl_msg* message, const std::function<void(nlmsghdr*)>& onMessage);

  // The text of /proc/net/<name> as seen from this session's namespace.
  std::string ReadNetFile(const std::string& name);

  std::mutex mutex;

 private:
  void RequireOpen() const;
  uint32_t Stamp(nl_msg* message, int extraFlags);
  void Send(const uint8_t* data, size_t length);
  // Receives datagrams and hands each of our replies whose sequence number
  // lies in [firstSeq, lastSeq] to `handle` until it returns true.
  void ReceiveUntil(uint32_t firstSeq, uint32_t lastSeq,
                    const std::function<bool(nlmsghdr*)>& handle);

  nl_sock* sock_ = nullptr;
  int netnsFd_ = -1;  // the namespace given to Open, kept for ReadNetFile
  int fd_ = -1;
  int family_ = -1;
  uint32_t port_ = 0;
  uint32_t seq_ = 0;
  std::vector<uint8_t> receiveBuffer_;
  std::vector<uint8_t> sendBuffer_;
};

// The kernel's error for an NLMSG_ERROR message, and its extended-ACK text.
int ErrorOf(nlmsghdr* header, std::string* extack);

}  // namespace ipvs
