// One generic-netlink socket talking to one network namespace's IPVS family.
// Used from worker threads only, one at a time and in call order (callers
// hold a turn: see Turns).
#pragma once

#include <linux/netlink.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "batch.h"
#include "ipvs_types.h"
#include "worker_priority.h"

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

// Test-only faults (see _testFault in typings/addon.d.ts).
struct Faults {
  int failDumpAfterMessages = -1;  // the next dump fails (EBADMSG) after this many messages
  int receiveBufferBytes = 0;      // SO_RCVBUF of the sockets, 0 = the normal size
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
  // The nice value each call's pool thread adds while it runs (see
  // worker_priority.h). Set by open() on the main thread, read by workers.
  void SetWorkerNice(int nice) { workerNice_.store(nice, std::memory_order_relaxed); }
  int workerNice() const { return workerNice_.load(std::memory_order_relaxed); }
  void Close();
  int family() const { return family_; }
  bool IsOpen() const { return open_; }

  // Sends an encoded batch; returns the failures in index order (the
  // encoder's included). Never throws for a socket failure: it becomes the
  // outcome of the requests it touched.
  std::vector<Failure> Execute(Batch& batch);

  // A dump request: calls onMessage for every reply until NLMSG_DONE.
  void Dump(nlmsghdr* request, const std::function<void(nlmsghdr*)>& onMessage);
  // A request answered by zero or more replies and then an ACK.
  void Transact(nlmsghdr* request, const std::function<void(nlmsghdr*)>& onMessage);

  // The text of /proc/net/<name> as seen from this session's namespace.
  std::string ReadNetFile(const std::string& name);

  void SetFaults(const Faults& faults);

  // Calls on one session run one at a time, in the order they were made.
  // A mutex alone gave one at a time but not the order: two calls queued on
  // the thread pool could take it either way round, so a close() made after
  // a list() could run first and fail it. Turns are numbered on the main
  // thread when a call is queued; a worker waits for its number. The pool
  // starts work in queue order, so the holder of the current number is
  // always running and waiting cannot deadlock.
  class Turns {
   public:
    // Main thread only.
    uint64_t Take() { return next_++; }
    // Main thread only: gives back the turn just taken (the call was never queued).
    void GiveBack() { --next_; }

    // Worker thread: holds the turn from construction to destruction.
    class Hold {
     public:
      Hold(Turns& turns, uint64_t turn) : turns_(turns), lock_(turns.mutex_) {
        turns_.changed_.wait(lock_, [&] { return turns_.serving_ == turn; });
      }
      ~Hold() {
        ++turns_.serving_;
        lock_.unlock();
        turns_.changed_.notify_all();
      }
      Hold(const Hold&) = delete;
      Hold& operator=(const Hold&) = delete;

     private:
      Turns& turns_;
      std::unique_lock<std::mutex> lock_;
    };

   private:
    uint64_t next_ = 0;
    uint64_t serving_ = 0;  // guarded by mutex_
    std::mutex mutex_;
    std::condition_variable changed_;
  };
  Turns turns;

 private:
  // Reopens the socket if an earlier failure left it unusable; throws Closed
  // when the session is not open.
  void RequireOpen();
  void OpenSocket();
  void CloseSocket();
  // Resolves the family on the socket as it is (Open has not finished).
  void ResolveFamily();
  void TransactOnSocket(nlmsghdr* request, const std::function<void(nlmsghdr*)>& onMessage);
  uint32_t NextSeq() {
    if (++seq_ == 0) seq_ = 1;  // 0 is what unsolicited messages carry
    return seq_;
  }
  void Stamp(nlmsghdr* header, uint32_t seq, uint16_t extraFlags);
  // sendmsg with the real errno (libnl's nl_sendto maps ENOBUFS to ENOMEM).
  int SendRaw(const void* data, size_t length);
  void Send(const void* data, size_t length);
  // recvmmsg into receiveBuffers_: returns the number of datagrams, or
  // -errno. Blocks (bounded by SO_RCVTIMEO) unless `dontWait`.
  int ReceiveRaw(bool dontWait);
  // Receives datagrams and hands each of our replies whose sequence number
  // lies in [firstSeq, lastSeq] to `handle` until it returns true. On any
  // failure the socket is marked for reopening before the exception leaves.
  void ReceiveUntil(uint32_t firstSeq, uint32_t lastSeq, const std::function<bool(nlmsghdr*)>& handle);
  // Sends one buffer of a batch and records its failures.
  void ExecuteBuffer(Batch::Buffer& buffer, std::vector<Failure>* failures, int* stopError, std::string* stopMessage);

  bool open_ = false;
  bool broken_ = false;  // a failure left the socket unusable: reopen before use
  int netnsFd_ = -1;     // the namespace given to Open, kept to reopen and for ReadNetFile
  int fd_ = -1;
  int family_ = -1;
  uint32_t port_ = 0;
  uint32_t seq_ = 0;
  Faults faults_;
  std::atomic<int> workerNice_{kDefaultWorkerNice};
  // ReceiveRaw's datagrams: kReceiveSlots slots of kReceiveSlotBytes.
  std::vector<uint8_t> receiveBuffer_;
  std::vector<mmsghdr> receiveHeaders_;
  std::vector<iovec> receiveVectors_;
};

// Pure decoders of the kernel's replies (no I/O; native/fuzz fuzzes each).
// A message given to them lies wholly in its buffer (NLMSG_OK held).

// The kernel's error for an NLMSG_ERROR message, and its extended-ACK text.
int ErrorOf(const nlmsghdr* header, std::string* extack);

// The family id in the genl controller's reply to CTRL_CMD_GETFAMILY.
bool DecodeFamilyId(const nlmsghdr* header, uint16_t* id);

// Hands the messages of one received datagram that answer our requests (port
// `port`, sequence numbers in [firstSeq, lastSeq]) to `handle`, in order,
// until it returns true; returns whether it did.
bool ForEachReply(uint8_t* datagram, size_t length, uint32_t port, uint32_t firstSeq, uint32_t lastSeq,
                  const std::function<bool(nlmsghdr*)>& handle);

// One message of a dump's answer: true at its end (NLMSG_DONE, or an
// NLMSG_ERROR when the dump did not start), with the kernel's error (0 for
// none) in *error and its extended-ACK text in *extack.
bool DumpEnded(const nlmsghdr* header, int* error, std::string* extack);

}  // namespace ipvs
