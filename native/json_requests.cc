#include "json_requests.h"

#include <arpa/inet.h>
#include <linux/ip_vs.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "wire.h"

namespace ipvs {
namespace {

// --- Where values go -----------------------------------------------------

// One field's value as the text gave it.
struct Field {
  enum Type : uint8_t { kAbsent, kNull, kFalse, kTrue, kInteger, kBadNumber, kString, kObject, kArray };
  Type type = kAbsent;
  uint64_t integer = 0;  // kInteger: a non-negative integer that fits in 64 bits
  std::string text;      // kString, decoded
};

// Every field a request can carry, per object; the names are the RawRequest's.
enum Slot : int {
  kCommand, kService, kKeyOnly, kDestination, kDaemon, kTimeouts,
  kServiceFamily, kServiceFwmark, kServiceProtocol, kServiceAddress, kServicePort,
  kScheduler, kFlags, kTimeout, kNetmask, kPersistenceEngine,
  kDestinationFamily, kDestinationAddress, kDestinationPort, kForwarding, kWeight,
  kUpperThreshold, kLowerThreshold, kTunnelType, kTunnelPort, kTunnelFlags,
  kState, kInterface, kSyncId, kMaxLength, kGroup, kDaemonPort, kTtl,
  kTcp, kTcpFin, kUdp,
  kSlotCount
};

const char* const kSlotNames[kSlotCount] = {
    "command", "service", "keyOnly", "destination", "daemon", "timeouts",
    "family", "fwmark", "protocol", "address", "port",
    "scheduler", "flags", "timeout", "netmask", "persistenceEngine",
    "family", "address", "port", "forwarding", "weight",
    "upperThreshold", "lowerThreshold", "tunnelType", "tunnelPort", "tunnelFlags",
    "state", "interface", "syncId", "maxLength", "group", "port", "ttl",
    "tcp", "tcpFin", "udp",
};

// The keys of one kind of object: the slots [first, last) in that order.
struct Shape {
  Slot first, last;
};
constexpr Shape kRequestShape{kCommand, kServiceFamily};
constexpr Shape kServiceShape{kServiceFamily, kDestinationFamily};
constexpr Shape kDestinationShape{kDestinationFamily, kState};
constexpr Shape kDaemonShape{kState, kTcp};
constexpr Shape kTimeoutsShape{kTcp, kSlotCount};

// The shape of the object a request-level key holds, if it is one of ours.
const Shape* NestedShape(int slot) {
  switch (slot) {
    case kService: return &kServiceShape;
    case kDestination: return &kDestinationShape;
    case kDaemon: return &kDaemonShape;
    case kTimeouts: return &kTimeoutsShape;
    default: return nullptr;
  }
}

struct SyntaxError {
  size_t offset;
  const char* what;
};

// --- The text ------------------------------------------------------------

bool IsDigit(int c) { return c >= '0' && c <= '9'; }

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// A strict RFC 8259 reader that fills Fields. Syntax errors throw SyntaxError.
class Reader {
 public:
  Reader(const char* text, size_t length) : begin_(text), p_(text), end_(text + length) {}

  [[noreturn]] void Fail(const char* what) { throw SyntaxError{static_cast<size_t>(p_ - begin_), what}; }
  void Space() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  int Peek() const { return p_ < end_ ? static_cast<unsigned char>(*p_) : -1; }
  bool Eat(char c) {
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  void Expect(char c, const char* what) {
    if (!Eat(c)) Fail(what);
  }
  bool AtEnd() const { return p_ == end_; }

  // At the opening quote: the contents, a view into the text when there are
  // no escapes, else decoded into *scratch (and a view of it).
  std::string_view String(std::string* scratch) {
    ++p_;
    const char* start = p_;
    while (p_ < end_) {
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        std::string_view view(start, static_cast<size_t>(p_ - start));
        ++p_;
        return view;
      }
      if (c == '\\') break;
      if (c < 0x20) Fail("a control character in a string");
      ++p_;
    }
    scratch->assign(start, static_cast<size_t>(p_ - start));
    for (;;) {
      if (p_ >= end_) Fail("an unterminated string");
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return *scratch;
      }
      if (c < 0x20) Fail("a control character in a string");
      if (c != '\\') {
        const char* run = p_;
        while (p_ < end_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20) ++p_;
        scratch->append(run, static_cast<size_t>(p_ - run));
        continue;
      }
      ++p_;
      if (p_ >= end_) Fail("an unterminated string");
      switch (*p_++) {
        case '"': scratch->push_back('"'); break;
        case '\\': scratch->push_back('\\'); break;
        case '/': scratch->push_back('/'); break;
        case 'b': scratch->push_back('\b'); break;
        case 'f': scratch->push_back('\f'); break;
        case 'n': scratch->push_back('\n'); break;
        case 'r': scratch->push_back('\r'); break;
        case 't': scratch->push_back('\t'); break;
        case 'u': {
          uint32_t cp = Hex4();
          if (cp >= 0xd800 && cp <= 0xdbff && end_ - p_ >= 6 && p_[0] == '\\' && p_[1] == 'u') {
            const char* back = p_;
            p_ += 2;
            uint32_t low = Hex4();
            if (low >= 0xdc00 && low <= 0xdfff) {
              cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            } else {
              p_ = back;  // decoded on its own next
              cp = 0xfffd;
            }
          } else if (cp >= 0xd800 && cp <= 0xdfff) {
            // A lone surrogate: U+FFFD, as V8 writes one into UTF-8.
            cp = 0xfffd;
          }
          AppendUtf8(scratch, cp);
          break;
        }
        default:
          --p_;
          Fail("an invalid escape in a string");
      }
    }
  }

  // A number: an integer when it has no fraction or exponent, is not
  // negative (-0 is 0) and fits in 64 bits; otherwise kBadNumber.
  void Number(Field* out) {
    const bool negative = Eat('-');
    uint64_t value = 0;
    bool overflow = false;
    if (Eat('0')) {
      // JSON has no leading zeros: a digit after it is a syntax error later.
    } else if (p_ < end_ && *p_ >= '1' && *p_ <= '9') {
      while (p_ < end_ && IsDigit(*p_)) {
        uint64_t digit = static_cast<uint64_t>(*p_ - '0');
        if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) overflow = true;
        else value = value * 10 + digit;
        ++p_;
      }
    } else {
      Fail("a number without digits");
    }
    bool integer = true;
    if (Eat('.')) {
      integer = false;
      if (p_ >= end_ || !IsDigit(*p_)) Fail("a number without digits after '.'");
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      integer = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ >= end_ || !IsDigit(*p_)) Fail("a number without exponent digits");
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    }
    if (integer && !overflow && (!negative || value == 0)) {
      out->type = Field::kInteger;
      out->integer = value;
    } else {
      out->type = Field::kBadNumber;
    }
  }

  // A value into `field`: objects and arrays are checked and skipped.
  void Value(Field* field, int depth) {
    switch (Peek()) {
      case '"': {
        std::string_view view = String(&field->text);
        if (view.data() != field->text.data()) field->text.assign(view.data(), view.size());
        field->type = Field::kString;
        return;
      }
      case '{':
        Skip(depth);
        field->type = Field::kObject;
        return;
      case '[':
        Skip(depth);
        field->type = Field::kArray;
        return;
      case 't':
        Literal("true");
        field->type = Field::kTrue;
        return;
      case 'f':
        Literal("false");
        field->type = Field::kFalse;
        return;
      case 'n':
        Literal("null");
        field->type = Field::kNull;
        return;
      default:
        if (Peek() == '-' || IsDigit(Peek())) return Number(field);
        Fail("expected a value");
    }
  }

  // Any value, checked and skipped. `depth`: the containers around it.
  void Skip(int depth) {
    int c = Peek();
    if (c == '{' || c == '[') {
      if (depth >= kMaxJsonDepth) Fail("nested too deep");
      ++p_;
      Space();
      const char close = c == '{' ? '}' : ']';
      if (Eat(close)) return;
      for (;;) {
        Space();
        if (c == '{') {
          if (Peek() != '"') Fail("expected a key");
          String(&skipped_);
          Space();
          Expect(':', "expected ':'");
          Space();
        }
        Skip(depth + 1);
        Space();
        if (Eat(',')) continue;
        Expect(close, c == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
        return;
      }
    }
    Field ignored;
    Value(&ignored, depth);
  }

  // At '{': an object of `shape`, its known keys into `fields`.
  void Object(const Shape& shape, Field* fields, int depth) {
    if (depth >= kMaxJsonDepth) Fail("nested too deep");
    ++p_;
    Space();
    if (Eat('}')) return;
    for (;;) {
      Space();
      if (Peek() != '"') Fail("expected a key");
      std::string_view key = String(&key_);
      Space();
      Expect(':', "expected ':'");
      Space();
      int slot = Find(shape, key);
      if (slot < 0) {
        Skip(depth + 1);
      } else {
        const Shape* nested = shape.first == kRequestShape.first ? NestedShape(slot) : nullptr;
        if (nested != nullptr && Peek() == '{') {
          // A repeated key: the last one counts, as in JSON.parse.
          for (int s = nested->first; s < nested->last; ++s) fields[s].type = Field::kAbsent;
          Object(*nested, fields, depth + 1);
          fields[slot].type = Field::kObject;
        } else {
          Value(&fields[slot], depth + 1);
        }
      }
      Space();
      if (Eat(',')) continue;
      Expect('}', "expected ',' or '}'");
      return;
    }
  }

 private:
  void Literal(const char* word) {
    size_t n = std::strlen(word);
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0) Fail("expected a value");
    p_ += n;
  }

  uint32_t Hex4() {
    if (end_ - p_ < 4) Fail("an incomplete \\u escape");
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      char c = *p_++;
      value <<= 4;
      if (c >= '0' && c <= '9') value |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') value |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') value |= static_cast<uint32_t>(c - 'A' + 10);
      else {
        --p_;
        Fail("an invalid \\u escape");
      }
    }
    return value;
  }

  static int Find(const Shape& shape, std::string_view key) {
    for (int s = shape.first; s < shape.last; ++s) {
      const char* name = kSlotNames[s];
      if (key.size() == std::strlen(name) && std::memcmp(key.data(), name, key.size()) == 0) return s;
    }
    return -1;
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  std::string key_;      // decoded keys with escapes
  std::string skipped_;  // decoded strings nobody reads
};

// --- Fields to a Request ---------------------------------------------------
// The same checks, in the same order and with the same messages, as a
// RawRequest read property by property. Null is "absent" except where a
// number is expected: JSON.stringify writes NaN and Infinity as null.

class Converter {
 public:
  explicit Converter(const Field* fields) : f_(fields) {}

  Request Convert() {
    Request r;
    r.command = static_cast<uint8_t>(U32(kCommand, 0, IPVS_CMD_MAX));
    if (r.command == 0) Fail(kCommand, "expected an IPVS command");
    switch (f_[kKeyOnly].type) {
      case Field::kAbsent:
      case Field::kNull:
      case Field::kFalse: r.serviceKeyOnly = false; break;
      case Field::kTrue: r.serviceKeyOnly = true; break;
      default: Fail(kKeyOnly, "expected a boolean");
    }

    if (IsObject(kService)) {
      Service svc;
      svc.key = ServiceKeyOf();
      // Only the key is sent with a destination or with keyOnly: the other
      // fields are not read (nor checked).
      const bool keyOnly = r.serviceKeyOnly || r.command == IPVS_CMD_NEW_DEST || r.command == IPVS_CMD_SET_DEST ||
                           r.command == IPVS_CMD_DEL_DEST;
      if (!keyOnly) {
        svc.scheduler = String(kScheduler);
        svc.flags = U32(kFlags, 0);
        svc.timeout = U32(kTimeout, 0);
        svc.netmask = U32(kNetmask, svc.key.family == AF_INET ? 0xffffffffU : 128);
        svc.persistenceEngine = String(kPersistenceEngine);
      }
      r.service = std::move(svc);
    }

    if (IsObject(kDestination)) {
      Destination d;
      uint16_t family = static_cast<uint16_t>(U32(kDestinationFamily, 0, 0xffff));
      if (family != AF_INET && family != AF_INET6)
        Fail(kDestinationFamily, "destination family must be AF_INET or AF_INET6");
      d.address = AddressOf(kDestinationAddress, family);
      d.port = static_cast<uint16_t>(U32(kDestinationPort, 0, 0xffff));
      d.forwardingMethod = U32(kForwarding, 0);
      d.weight = U32(kWeight, 0);
      d.upperThreshold = U32(kUpperThreshold, 0);
      d.lowerThreshold = U32(kLowerThreshold, 0);
      d.tunnelType = Optional<uint8_t>(kTunnelType);
      d.tunnelPort = Optional<uint16_t>(kTunnelPort);
      d.tunnelFlags = Optional<uint16_t>(kTunnelFlags);
      r.destination = std::move(d);
    }

    if (IsObject(kDaemon)) {
      Daemon d;
      d.state = U32(kState, 0);
      d.multicastInterface = String(kInterface);
      d.syncId = U32(kSyncId, 0);
      d.syncMaxLen = Optional<uint16_t>(kMaxLength);
      std::string group = String(kGroup);
      if (!group.empty())
        d.multicastGroup = AddressOf(kGroup, group.find(':') != std::string::npos ? AF_INET6 : AF_INET);
      d.multicastPort = Optional<uint16_t>(kDaemonPort);
      d.multicastTtl = Optional<uint8_t>(kTtl);
      r.daemon = std::move(d);
    }

    if (IsObject(kTimeouts)) r.timeouts = Timeouts{U32(kTcp, 0), U32(kTcpFin, 0), U32(kUdp, 0)};
    return r;
  }

 private:
  [[noreturn]] static void Fail(int slot, const std::string& what) {
    throw EncodeError(EINVAL, std::string(kSlotNames[slot]) + ": " + what);
  }

  // True for an object; false when absent (or null); else invalid.
  bool IsObject(int slot) {
    const Field& f = f_[slot];
    if (f.type == Field::kObject) return true;
    if (f.type == Field::kAbsent || f.type == Field::kNull) return false;
    Fail(slot, "expected an object");
  }

  uint32_t U32(int slot, uint32_t fallback, uint32_t max = UINT32_MAX) {
    const Field& f = f_[slot];
    switch (f.type) {
      case Field::kAbsent: return fallback;
      case Field::kInteger:
        if (f.integer <= max) return static_cast<uint32_t>(f.integer);
        [[fallthrough]];
      case Field::kBadNumber: Fail(slot, "expected an integer from 0 to " + std::to_string(max));
      case Field::kNull: Fail(slot, "expected a number (NaN and Infinity become null in JSON)");
      default: Fail(slot, "expected a number");
    }
  }

  template <typename T>
  std::optional<T> Optional(int slot) {
    if (f_[slot].type == Field::kAbsent) return std::nullopt;
    return static_cast<T>(U32(slot, 0, std::numeric_limits<T>::max()));
  }

  std::string String(int slot) {
    const Field& f = f_[slot];
    if (f.type == Field::kAbsent || f.type == Field::kNull) return "";
    if (f.type != Field::kString) Fail(slot, "expected a string");
    // The kernel would stop at a NUL and read another name than the one given.
    if (f.text.find('\0') != std::string::npos) Fail(slot, "contains a NUL character");
    return f.text;
  }

  Address AddressOf(int slot, uint16_t family) {
    Address a;
    a.family = family;
    std::string text = String(slot);
    if (text.empty()) return a;  // the all-zero address (fwmark services)
    if (inet_pton(family == AF_INET6 ? AF_INET6 : AF_INET, text.c_str(), a.bytes.data()) != 1)
      Fail(slot, "invalid " + std::string(family == AF_INET6 ? "IPv6" : "IPv4") + " address '" + text + "'");
    return a;
  }

  ServiceKey ServiceKeyOf() {
    ServiceKey key;
    key.family = static_cast<uint16_t>(U32(kServiceFamily, 0, 0xffff));
    if (key.family != AF_INET && key.family != AF_INET6) Fail(kServiceFamily, "must be AF_INET or AF_INET6");
    key.fwmark = U32(kServiceFwmark, 0);
    key.protocol = static_cast<uint16_t>(U32(kServiceProtocol, 0, 0xffff));
    key.address = AddressOf(kServiceAddress, key.family);
    key.port = static_cast<uint16_t>(U32(kServicePort, 0, 0xffff));
    return key;
  }

  const Field* f_;
};

}  // namespace

Batch ParseRequestsJson(const char* text, size_t length) {
  Reader reader(text, length);
  BatchBuilder builder;
  Field fields[kSlotCount];
  try {
    reader.Space();
    if (reader.Peek() != '[') reader.Fail("not a JSON array");
    reader.Eat('[');
    reader.Space();
    if (!reader.Eat(']')) {
      for (uint32_t index = 0;; ++index) {
        reader.Space();
        if (reader.Peek() == '{') {
          for (Field& f : fields) f.type = Field::kAbsent;
          reader.Object(kRequestShape, fields, 1);
          Request request;
          bool valid = true;
          try {
            request = Converter(fields).Convert();
          } catch (const EncodeError& e) {
            builder.AddInvalid(index, e.error, e.what());
            valid = false;
          }
          if (valid) builder.Add(index, request);
        } else {
          reader.Skip(1);
          builder.AddInvalid(index, EINVAL, "a request must be an object");
        }
        reader.Space();
        if (reader.Eat(',')) continue;
        reader.Expect(']', "expected ',' or ']'");
        break;
      }
    }
    reader.Space();
    if (!reader.AtEnd()) reader.Fail("text after the array");
  } catch (const SyntaxError& e) {
    throw EncodeError(EINVAL, std::string("the requests are not a well-formed JSON array: ") + e.what + " at offset " +
                                  std::to_string(e.offset));
  }
  return builder.Finish();
}

}  // namespace ipvs
