#include "probe_engine.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace ipvs {
namespace {

// What a run ended with; lib/health/probes/native.ts has the same numbers.
enum Outcome : uint32_t {
  kConnected = 0,    // TCP: the handshake completed
  kStatus = 1,       // HTTP: the head was read; value: the status
  kSocketError = 2,  // value: errno (socket(), connect, send or recv)
  kTimeout = 3,      // the deadline passed
  kClosedEarly = 4,  // the server closed before the end of the head
  kNotHttp = 5,      // detail: the start of what came
  kHeadTooLong = 6,  // no end of the head within kMaxHead bytes
  kBadLength = 7,    // value: the status; detail: the Content-Length value
};

// The phase a run is in, named in a timeout's or an error's reason.
enum Phase : uint32_t { kConnectPhase = 0, kResponsePhase = 1 };

// As http-response.ts: the most of a head read.
constexpr size_t kMaxHead = 64 * 1024;
// Results go to JavaScript when this many are ready, or when the oldest has
// waited kBatchDelayUs: a JavaScript call per batch, not per result.
constexpr size_t kBatchMax = 1024;
constexpr int64_t kBatchDelayUs = 4000;
constexpr uint64_t kWakeTag = UINT64_MAX;

int64_t NowUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

struct Result {
  uint32_t id;
  uint32_t outcome;
  uint32_t phase;
  uint32_t value;
  std::string detail;
};
using Batch = std::vector<Result>;

}  // namespace

struct DeliveryContext;
// Runs on the main thread for each batch the engine thread sends.
void DeliverBatch(Napi::Env env, Napi::Function callback, DeliveryContext* context, Batch* batch);
using Deliver = Napi::TypedThreadSafeFunction<DeliveryContext, Batch, DeliverBatch>;

namespace {

struct Command {
  enum Kind { kStart, kCancel } kind;
  uint32_t id;
  bool http = false;
  sockaddr_storage address{};
  socklen_t address_length = 0;
  uint32_t timeout_ms = 0;
  std::string request;
};

struct Run {
  int fd;
  bool http;
  uint32_t phase = kConnectPhase;
  int64_t deadline;
  std::string request;
  size_t written = 0;
  // The response head read so far (interim 1xx heads dropped as they end).
  std::string head;
};

// Closes a connected socket with a reset (as tcp.ts does, and why): no
// TIME_WAIT socket per check, no FIN exchange.
void ResetAndClose(int fd) {
  linger reset{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  close(fd);
}

bool IsSpace(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f' || c == 0xa0; }

std::string Trim(const std::string& text, size_t from, size_t to) {
  while (from < to && IsSpace(text[from])) from++;
  while (to > from && IsSpace(text[to - 1])) to--;
  return text.substr(from, to - from);
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// /^HTTP\/1\.[01] \d{3}/ on the first 12 bytes.
bool StatusPrefix(const std::string& text) {
  return text.size() >= 12 && text.compare(0, 7, "HTTP/1.") == 0 && (text[7] == '0' || text[7] == '1') && text[8] == ' ' && IsDigit(text[9]) &&
         IsDigit(text[10]) && IsDigit(text[11]);
}

// The end of the head (/\r?\n\r?\n/, as http-response.ts): where the head
// text ends and where what follows it begins.
bool FindHeadEnd(const std::string& text, size_t* end, size_t* next) {
  for (size_t lf = text.find('\n'); lf != std::string::npos; lf = text.find('\n', lf + 1)) {
    size_t after = lf + 1;
    if (after < text.size() && text[after] == '\r') after++;
    if (after < text.size() && text[after] == '\n') {
      *end = lf > 0 && text[lf - 1] == '\r' ? lf - 1 : lf;
      *next = after + 1;
      return true;
    }
  }
  return false;
}

// What the head's Content-Length fields say is bad (http-response.ts's
// framingOf() fails a response on it even when no body is read), or false.
bool BadContentLength(const std::string& head, std::string* value) {
  bool have = false;
  uint64_t length = 0;
  size_t line = head.find('\n');
  while (line != std::string::npos) {
    size_t from = line + 1;
    line = head.find('\n', from);
    size_t to = line == std::string::npos ? head.size() : line;
    if (to > from && head[to - 1] == '\r' && line != std::string::npos) to--;
    size_t colon = head.find(':', from);
    if (colon == std::string::npos || colon >= to || colon == from) continue;
    std::string name = Trim(head, from, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
    if (name != "content-length") continue;
    std::string text = Trim(head, colon + 1, to);
    bool digits = !text.empty() && text.size() <= 15 && std::all_of(text.begin(), text.end(), IsDigit);
    uint64_t number = digits ? std::stoull(text) : 0;
    if (!digits || (have && number != length)) {
      *value = text.substr(0, 40);
      return true;
    }
    have = true;
    length = number;
  }
  return false;
}

}  // namespace

// The engine thread and what it owns. Commands come from the main thread
// through a queue and an eventfd; everything else is the thread's alone.
class ProbeCore {
 public:
  explicit ProbeCore(Deliver deliver) : deliver_(deliver) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_ < 0 || wake_ < 0) {
      int error = errno;
      if (epoll_ >= 0) close(epoll_);
      if (wake_ >= 0) close(wake_);
      throw std::system_error(error, std::generic_category(), "probe engine");
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = kWakeTag;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &event);
  }

  ~ProbeCore() {
    Shutdown();
    close(epoll_);
    close(wake_);
  }

  // Main thread. The eventfd is written only when the queue was empty: the
  // thread takes the whole queue at once, so a non-empty queue has a wake-up
  // pending, and a crowd of starts costs one write.
  void Post(Command&& command) {
    bool wake;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
      wake = commands_.empty();
      commands_.push_back(std::move(command));
      if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
    }
    if (wake) Wake();
  }

  // Main thread: the thread exits (closing its sockets, dropping what it had not sent) and is joined.
  void Shutdown() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    Wake();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Wake() {
    uint64_t one = 1;
    ssize_t written = write(wake_, &one, sizeof one);
    (void)written;  // EAGAIN: the counter is full, so a wake-up is pending anyway
  }

  void Loop() {
    std::vector<Command> commands;
    epoll_event events[256];
    for (;;) {
      int count = epoll_wait(epoll_, events, 256, Timeout());
      if (count < 0) count = 0;  // EINTR
      for (int i = 0; i < count; i++) {
        if (events[i].data.u64 != kWakeTag) continue;
        uint64_t counter;
        ssize_t read_bytes = read(wake_, &counter, sizeof counter);
        (void)read_bytes;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          if (stopping_) break;
          commands.swap(commands_);
        }
        for (Command& command : commands) {
          if (command.kind == Command::kStart) StartRun(command);
          else CancelRun(command.id);
        }
        commands.clear();
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) break;
      }
      for (int i = 0; i < count; i++)
        if (events[i].data.u64 != kWakeTag) OnEvent(static_cast<uint32_t>(events[i].data.u64), events[i].events);
      int64_t now = NowUs();
      while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
        auto run = runs_.find(deadlines_.begin()->second);
        Finish(run, kTimeout, run->second.phase, 0);
      }
      if (!pending_.empty() && (pending_.size() >= kBatchMax || now - pending_since_ >= kBatchDelayUs)) Flush();
    }
    for (auto& [id, run] : runs_) close(run.fd);
    runs_.clear();
    deadlines_.clear();
    pending_.clear();
  }

  // Until the next deadline or the pending batch's time, in whole milliseconds rounded up.
  int Timeout() const {
    int64_t until = INT64_MAX;
    if (!deadlines_.empty()) until = deadlines_.begin()->first;
    if (!pending_.empty()) until = std::min(until, pending_since_ + kBatchDelayUs);
    if (until == INT64_MAX) return -1;
    int64_t wait = until - NowUs();
    return wait <= 0 ? 0 : static_cast<int>((wait + 999) / 1000);
  }

  void StartRun(Command& command) {
    int fd = socket(command.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return Emit(command.id, kSocketError, kConnectPhase, errno);
    int connected = connect(fd, reinterpret_cast<sockaddr*>(&command.address), command.address_length);
    if (connected < 0 && errno != EINPROGRESS) {
      int error = errno;
      close(fd);
      return Emit(command.id, kSocketError, kConnectPhase, error);
    }
    if (connected == 0 && !command.http) {
      ResetAndClose(fd);
      return Emit(command.id, kConnected, kConnectPhase, 0);
    }
    // Edge-triggered, both directions, registered once: the connect's
    // completion and the answer each arrive as an edge, with no epoll_ctl
    // between the phases.
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.u64 = command.id;
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) < 0) {
      int error = errno;
      close(fd);
      return Emit(command.id, kSocketError, kConnectPhase, error);
    }
    int64_t deadline = NowUs() + static_cast<int64_t>(command.timeout_ms) * 1000;
    runs_[command.id] = Run{fd, command.http, kConnectPhase, deadline, std::move(command.request), 0, {}};
    deadlines_.emplace(deadline, command.id);
  }

  void CancelRun(uint32_t id) {
    auto run = runs_.find(id);
    if (run == runs_.end()) return;
    Close(run->second);
    deadlines_.erase({run->second.deadline, id});
    runs_.erase(run);
  }

  void OnEvent(uint32_t id, uint32_t events) {
    auto it = runs_.find(id);
    if (it == runs_.end()) return;  // finished earlier in this round
    Run& run = it->second;
    if (run.phase == kConnectPhase) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      // Writable without an error or a hang-up: connected (no getsockopt() per run).
      if (events & (EPOLLERR | EPOLLHUP)) {
        int error = 0;
        socklen_t length = sizeof error;
        if (getsockopt(run.fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0) error = errno;
        if (error == 0) error = ECONNRESET;  // hung up without an error: reset before it could be used
        return Finish(it, kSocketError, kConnectPhase, error);
      }
      if (!run.http) return Finish(it, kConnected, kConnectPhase, 0);
      run.phase = kResponsePhase;
    }
    while (run.written < run.request.size()) {
      ssize_t sent = send(run.fd, run.request.data() + run.written, run.request.size() - run.written, MSG_NOSIGNAL);
      if (sent < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return;  // the next EPOLLOUT edge goes on
        return Finish(it, kSocketError, kResponsePhase, errno);
      }
      run.written += static_cast<size_t>(sent);
    }
    // Only when something came: right after the request, the answer is still to come, and its
    // arrival is an edge of its own (a recv() that finds nothing would cost a syscall per run).
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) Read(it);
  }

  void Read(std::unordered_map<uint32_t, Run>::iterator it) {
    Run& run = it->second;
    for (;;) {
      ssize_t got = recv(run.fd, buffer_, sizeof buffer_, 0);
      if (got > 0) {
        // Kept up to one byte past what a head may hold: enough to say it is too long.
        size_t room = kMaxHead + 5 - std::min(run.head.size(), kMaxHead + 5);
        run.head.append(buffer_, std::min(static_cast<size_t>(got), room));
        if (Judge(it)) return;
        continue;
      }
      if (got == 0) return Finish(it, kClosedEarly, kResponsePhase, 0);
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      return Finish(it, kSocketError, kResponsePhase, errno);
    }
  }

  // The head so far, as http-response.ts's readHead() reads it: a verdict
  // (the run finished, true) or more bytes needed (false).
  bool Judge(std::unordered_map<uint32_t, Run>::iterator it) {
    std::string& head = it->second.head;
    for (;;) {
      size_t end = 0, next = 0;
      if (!FindHeadEnd(head, &end, &next)) {
        if (head.size() > kMaxHead) return Finish(it, kHeadTooLong, kResponsePhase, 0), true;
        // A status line that cannot become HTTP fails now, not at the deadline.
        if (head.size() >= 12 && !StatusPrefix(head)) return Finish(it, kNotHttp, kResponsePhase, 0, head.substr(0, 80)), true;
        return false;
      }
      if (!StatusPrefix(head) || !(end == 12 || head[12] == ' ' || head[12] == '\r' || head[12] == '\n'))
        return Finish(it, kNotHttp, kResponsePhase, 0, head.substr(0, std::min<size_t>(end, 80))), true;
      uint32_t status = static_cast<uint32_t>((head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0'));
      // Interim answers (100 Continue, 103 Early Hints) precede the real one; 101 is final.
      if (status >= 100 && status < 200 && status != 101) {
        head.erase(0, next);
        continue;
      }
      std::string value;
      if (status != 204 && status != 304 && status != 101 && BadContentLength(head.substr(0, end), &value))
        return Finish(it, kBadLength, kResponsePhase, status, value), true;
      return Finish(it, kStatus, kResponsePhase, status), true;
    }
  }

  void Close(const Run& run) {
    if (run.phase == kResponsePhase) ResetAndClose(run.fd);
    else close(run.fd);
  }

  void Finish(std::unordered_map<uint32_t, Run>::iterator it, uint32_t outcome, uint32_t phase, uint32_t value, std::string detail = {}) {
    Run& run = it->second;
    // A TCP check's connection is established, but its phase is still connect: reset it too.
    if (outcome == kConnected) ResetAndClose(run.fd);
    else Close(run);
    deadlines_.erase({run.deadline, it->first});
    Emit(it->first, outcome, phase, value, std::move(detail));
    runs_.erase(it);
  }

  void Emit(uint32_t id, uint32_t outcome, uint32_t phase, uint32_t value, std::string detail = {}) {
    if (pending_.empty()) pending_since_ = NowUs();
    pending_.push_back(Result{id, outcome, phase, value, std::move(detail)});
    if (pending_.size() >= kBatchMax) Flush();
  }

  void Flush() {
    auto* batch = new Batch(std::move(pending_));
    pending_ = Batch();
    pending_.reserve(64);
    // napi_closing: the environment is going away, and no one wants the results.
    if (deliver_.NonBlockingCall(batch) != napi_ok) delete batch;
  }

  Deliver deliver_;
  int epoll_ = -1;
  int wake_ = -1;
  std::mutex mutex_;
  std::vector<Command> commands_;
  bool stopping_ = false;
  std::thread thread_;
  // The thread's own.
  std::unordered_map<uint32_t, Run> runs_;
  std::set<std::pair<int64_t, uint32_t>> deadlines_;
  Batch pending_;
  int64_t pending_since_ = 0;
  char buffer_[16 * 1024];
};

// What the main thread keeps, shared by the ProbeEngine object and the
// thread-safe function's callback and finalizer (either may outlive the other).
struct EngineState {
  std::unique_ptr<ProbeCore> core;
  Deliver deliver;
  // Runs started and not yet delivered or cancelled: a result whose id is not
  // here was cancelled, and is dropped.
  std::unordered_set<uint32_t> in_flight;
  bool stopped = false;
  // The thread-safe function is gone (released, or the environment torn down).
  bool finalized = false;
  // The thread-safe function keeps the event loop alive only while runs are in flight.
  bool referenced = false;
};

// The thread-safe function's context: the EngineState, kept alive until the finalizer.
struct DeliveryContext {
  std::shared_ptr<EngineState> state;
};

namespace {

uint32_t IdArgument(const Napi::CallbackInfo& info, size_t index) {
  Napi::Value value = info[index];
  if (!value.IsNumber()) throw Napi::TypeError::New(info.Env(), "Expected a number for id but received " + value.ToString().Utf8Value());
  double id = value.As<Napi::Number>().DoubleValue();
  if (!(id >= 0 && id <= UINT32_MAX && id == static_cast<double>(static_cast<uint32_t>(id))))
    throw Napi::RangeError::New(info.Env(), "Expected an integer 0-4294967295 for id but received " + value.ToString().Utf8Value());
  return static_cast<uint32_t>(id);
}

// An IPv4 or IPv6 address (with an optional %zone) and a port into a sockaddr.
bool ParseAddress(const std::string& text, uint16_t port, sockaddr_storage* out, socklen_t* length) {
  auto* v4 = reinterpret_cast<sockaddr_in*>(out);
  if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *length = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
  size_t percent = text.find('%');
  if (inet_pton(AF_INET6, text.substr(0, percent).c_str(), &v6->sin6_addr) != 1) return false;
  if (percent != std::string::npos) {
    std::string zone = text.substr(percent + 1);
    unsigned index = if_nametoindex(zone.c_str());
    if (index == 0 && !zone.empty() && std::all_of(zone.begin(), zone.end(), IsDigit)) index = static_cast<unsigned>(std::stoul(zone));
    if (index == 0) return false;
    v6->sin6_scope_id = index;
  }
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(port);
  *length = sizeof(sockaddr_in6);
  return true;
}

}  // namespace

void DeliverBatch(Napi::Env env, Napi::Function callback, DeliveryContext* context, Batch* batch) {
  std::unique_ptr<Batch> owned(batch);
  if (env == nullptr || context == nullptr) return;
  EngineState& state = *context->state;
  if (state.stopped) return;
  // The results still wanted, moved to the front.
  size_t count = 0;
  bool details = false;
  for (size_t i = 0; i < owned->size(); i++) {
    if (state.in_flight.erase((*owned)[i].id) == 0) continue;  // cancelled
    if (!(*owned)[i].detail.empty()) details = true;
    if (count != i) (*owned)[count] = std::move((*owned)[i]);
    count++;
  }
  if (state.in_flight.empty() && state.referenced) {
    state.deliver.Unref(env);
    state.referenced = false;
  }
  if (count == 0) return;
  Napi::Uint32Array flat = Napi::Uint32Array::New(env, count * 4);
  Napi::Value texts = env.Undefined();
  if (details) texts = Napi::Array::New(env, count);
  for (size_t i = 0; i < count; i++) {
    const Result& result = (*owned)[i];
    flat[i * 4] = result.id;
    flat[i * 4 + 1] = result.outcome;
    flat[i * 4 + 2] = result.phase;
    flat[i * 4 + 3] = result.value;
    if (!result.detail.empty()) {
      // latin1: one character per byte, as http-response.ts reads a head.
      napi_value text;
      napi_create_string_latin1(env, result.detail.data(), result.detail.size(), &text);
      texts.As<Napi::Array>().Set(static_cast<uint32_t>(i), Napi::Value(env, text));
    }
  }
  try {
    callback.Call({flat, texts});
  } catch (const Napi::Error& error) {
    // Thrown by the callback: reported as an uncaught exception, as any callback's would be.
    error.ThrowAsJavaScriptException();
  }
}

Napi::Function ProbeEngine::Define(Napi::Env env) {
  return DefineClass(env, "ProbeEngine",
                     {
                         InstanceMethod<&ProbeEngine::Start>("start"),
                         InstanceMethod<&ProbeEngine::Cancel>("cancel"),
                         InstanceMethod<&ProbeEngine::Stop>("stop"),
                     });
}

ProbeEngine::ProbeEngine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProbeEngine>(info), state_(std::make_shared<EngineState>()) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(env, "Expected a function for onResults");
  auto* context = new DeliveryContext{state_};
  state_->deliver = Deliver::New(
      env, info[0].As<Napi::Function>(), "ipvs probe engine", 0, 1, context,
      [](Napi::Env, void*, DeliveryContext* finalized) {
        // The last call is over, or the environment is going away: the thread
        // is stopped and joined before the function (which it calls) is freed.
        finalized->state->finalized = true;
        finalized->state->stopped = true;
        if (finalized->state->core) finalized->state->core->Shutdown();
        delete finalized;
      });
  state_->deliver.Unref(env);
  try {
    state_->core = std::make_unique<ProbeCore>(state_->deliver);
  } catch (const std::system_error& error) {
    state_->stopped = true;
    state_->deliver.Release();
    throw Napi::Error::New(env, std::string("cannot start the probe engine: ") + error.what());
  }
}

ProbeEngine::~ProbeEngine() { StopNow(); }

void ProbeEngine::StopNow() {
  EngineState& state = *state_;
  if (state.finalized || state.stopped) return;
  state.stopped = true;
  state.core->Shutdown();
  state.in_flight.clear();
  state.deliver.Release();
}

Napi::Value ProbeEngine::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EngineState& state = *state_;
  if (state.stopped) throw Napi::Error::New(env, "the probe engine is stopped");
  Command command{Command::kStart, IdArgument(info, 0)};
  std::string kind = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  if (kind != "tcp" && kind != "http") throw Napi::TypeError::New(env, "Expected 'tcp' or 'http' for kind but received " + info[1].ToString().Utf8Value());
  command.http = kind == "http";
  double port = info[3].IsNumber() ? info[3].As<Napi::Number>().DoubleValue() : -1;
  if (!(port >= 1 && port <= 65535 && port == static_cast<double>(static_cast<int>(port))))
    throw Napi::RangeError::New(env, "Expected an integer 1-65535 for port but received " + info[3].ToString().Utf8Value());
  std::string address = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  if (!ParseAddress(address, static_cast<uint16_t>(port), &command.address, &command.address_length))
    throw Napi::TypeError::New(env, "Expected an IPv4 or IPv6 address for address but received " + info[2].ToString().Utf8Value());
  double timeout = info[4].IsNumber() ? info[4].As<Napi::Number>().DoubleValue() : -1;
  if (!(timeout >= 1 && timeout <= 86400000))
    throw Napi::RangeError::New(env, "Expected 1-86400000 for timeoutMs but received " + info[4].ToString().Utf8Value());
  command.timeout_ms = static_cast<uint32_t>(timeout);
  if (command.http) {
    if (!info[5].IsString()) throw Napi::TypeError::New(env, "Expected a string for request but received " + info[5].ToString().Utf8Value());
    command.request = info[5].As<Napi::String>().Utf8Value();
  }
  if (!state.in_flight.insert(command.id).second) throw Napi::RangeError::New(env, "Expected an id not in flight for id but received " + std::to_string(command.id));
  if (!state.referenced) {
    state.deliver.Ref(env);
    state.referenced = true;
  }
  state.core->Post(std::move(command));
  return env.Undefined();
}

Napi::Value ProbeEngine::Cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EngineState& state = *state_;
  uint32_t id = IdArgument(info, 0);
  if (state.stopped || state.in_flight.erase(id) == 0) return env.Undefined();
  if (state.in_flight.empty() && state.referenced) {
    state.deliver.Unref(env);
    state.referenced = false;
  }
  state.core->Post(Command{Command::kCancel, id});
  return env.Undefined();
}

Napi::Value ProbeEngine::Stop(const Napi::CallbackInfo& info) {
  StopNow();
  return info.Env().Undefined();
}

}  // namespace ipvs
