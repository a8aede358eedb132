#include "worker_priority.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <thread>

namespace ipvs {

namespace {

// The calling thread's id, asked of the kernel once per thread.
int ThreadId() {
  thread_local const int tid = static_cast<int>(syscall(SYS_gettid));
  return tid;
}

// getpriority() may return -1 as a value: errno tells.
bool NiceOf(int tid, int* nice) {
  errno = 0;
  int value = getpriority(PRIO_PROCESS, tid);
  if (value == -1 && errno != 0) return false;
  *nice = value;
  return true;
}

}  // namespace

bool MayLowerWorkerPriority() {
  static std::once_flag once;
  static bool may = false;
  std::call_once(once, [] {
    try {
      std::thread([] {
        int tid = ThreadId();
        int nice = 0;
        if (!NiceOf(tid, &nice) || nice >= 19) return;
        if (setpriority(PRIO_PROCESS, tid, nice + 1) != 0) return;
        may = setpriority(PRIO_PROCESS, tid, nice) == 0;
      }).join();
    } catch (...) {
      may = false;  // no thread to try it on: leave priorities alone
    }
  });
  return may;
}

BelowEventLoop::BelowEventLoop(int nice) {
  if (nice <= 0 || !MayLowerWorkerPriority()) return;
  tid_ = ThreadId();
  if (!NiceOf(tid_, &restore_) || restore_ >= 19) return;
  int lowered = restore_ + nice > 19 ? 19 : restore_ + nice;
  lowered_ = setpriority(PRIO_PROCESS, tid_, lowered) == 0;
  // The queueing of this call woke this thread at its own priority, and on a
  // shared CPU the wakeup may have taken the CPU from the loop's thread; a
  // lowered thread that keeps it runs until the kernel's next tick. Giving it
  // up once hands it back to the loop (where no other thread waits for this
  // CPU, it returns at once).
  if (lowered_) sched_yield();
}

BelowEventLoop::~BelowEventLoop() {
  if (lowered_) setpriority(PRIO_PROCESS, tid_, restore_);
}

}  // namespace ipvs
