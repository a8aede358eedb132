// A handle's calls run on libuv's thread pool, beside the event loop's own
// thread. Where the two share a CPU (a one-CPU VM or container, or every
// core busy), the scheduler splits it fairly between them, so a long dump
// or a large send on the pool thread stretches every event-loop turn: a
// streamed listing of 20,000 x 10 on one vCPU saw blocks of 26-36 ms of
// which the loop's thread ran only 10 ms, the pool thread the rest. While a
// call runs, its pool thread therefore takes a higher nice value (lower
// priority) than its own, and gives it back when the call ends: the loop
// comes first; the call still gets every cycle the loop leaves idle. Having
// lowered itself, the thread yields the CPU once: the wakeup that started the
// call may have taken it from the loop's thread (in warm churn rounds at
// 20,000 x 10 on one emulated vCPU, the median of the rounds' longest
// event-loop blocks went from 14 to 10 ms, and creating the table took 22 s
// instead of 24).
#pragma once

namespace ipvs {

// The nice value added for the length of a call unless open() says otherwise.
constexpr int kDefaultWorkerNice = 10;

// Whether this process may raise a thread's nice value and lower it back
// (CAP_SYS_NICE, or an RLIMIT_NICE that allows it). Tried once, on a thread
// of its own: where it may not, calls leave their thread's priority alone
// rather than leave a pool thread that other work shares lowered.
bool MayLowerWorkerPriority();

// For the lifetime of the object, the calling thread's nice value is
// `nice` higher (at most 19); restored on destruction. 0: nothing.
class BelowEventLoop {
 public:
  explicit BelowEventLoop(int nice);
  ~BelowEventLoop();
  BelowEventLoop(const BelowEventLoop&) = delete;
  BelowEventLoop& operator=(const BelowEventLoop&) = delete;

 private:
  int tid_ = 0;
  int restore_ = 0;
  bool lowered_ = false;
};

}  // namespace ipvs
