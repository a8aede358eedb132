// A host-only check of the JSON request parser (no Node, no kernel):
//   g++ -std=c++17 -Wall -Wextra -O1 -fsanitize=address,undefined -o build/json_requests_test
//     native/json_requests_test.cc native/json_requests.cc native/batch.cc native/wire.cc
//   build/json_requests_test
// Not part of the addon (binding.gyp lists its sources).
#include <linux/ip_vs.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "json_requests.h"
#include "wire.h"

using namespace ipvs;

static int failed = 0;
#define CHECK(cond)                                                  \
  do {                                                               \
    if (!(cond)) {                                                   \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); \
      ++failed;                                                      \
    }                                                                \
  } while (0)

static Batch Parse(const std::string& text) { return ParseRequestsJson(text.data(), text.size()); }

static bool Rejects(const std::string& text) {
  try {
    Parse(text);
  } catch (const EncodeError& e) {
    return e.error == EINVAL;
  }
  return false;
}

static size_t Sent(const Batch& b) {
  size_t n = 0;
  for (auto& buffer : b.buffers) n += buffer.indices.size();
  return n;
}

// The one request of `element`: "" when it encodes, else the invalid message.
static std::string One(const std::string& element) {
  Batch b = Parse("[" + element + "]");
  if (!b.invalid.empty()) return b.invalid[0].message;
  return Sent(b) == 1 ? "" : "?";
}

static std::string Bytes(const Batch& b) {
  std::string s;
  for (auto& buffer : b.buffers) s.append(buffer.bytes.begin(), buffer.bytes.end());
  return s;
}

int main() {
  const std::string svc = R"({"family":2,"protocol":6,"address":"10.0.0.1","port":80,"fwmark":0})";
  const std::string full = R"({"family":2,"protocol":6,"address":"10.0.0.1","port":80,"fwmark":0,"scheduler":"rr","flags":0,"timeout":0,"netmask":4294967295,"persistenceEngine":""})";
  const std::string dst = R"({"family":2,"address":"198.18.0.2","port":8080,"forwarding":0,"weight":3,"upperThreshold":0,"lowerThreshold":0})";
  const std::string addDest = R"({"command":5,"service":)" + svc + R"(,"destination":)" + dst + "}";

  // Well-formed texts and what they encode to.
  CHECK(Sent(Parse("[]")) == 0);
  CHECK(Sent(Parse(" \n[ ]\t")) == 0);
  CHECK(One(addDest).empty());
  CHECK(One(R"({"command":1,"service":)" + full + "}").empty());
  {
    Request r;
    r.command = IPVS_CMD_NEW_DEST;
    r.service = Service();
    r.service->key.family = AF_INET;
    r.service->key.protocol = 6;
    r.service->key.port = 80;
    r.service->key.address.family = AF_INET;
    unsigned char a[4] = {10, 0, 0, 1};
    std::memcpy(r.service->key.address.bytes.data(), a, 4);
    r.destination = Destination();
    r.destination->address.family = AF_INET;
    unsigned char d[4] = {198, 18, 0, 2};
    std::memcpy(r.destination->address.bytes.data(), d, 4);
    r.destination->port = 8080;
    r.destination->weight = 3;
    std::vector<uint8_t> expected;
    Writer w(&expected);
    EncodeRequest(w, r);
    CHECK(Bytes(Parse("[" + addDest + "]")) == std::string(expected.begin(), expected.end()));
    // Key order, unknown keys (of any shape) and escaped keys change nothing.
    std::string shuffled = R"({"extra":[{"a":[1,2,{}]},null,true],"destination":{"weight":3,"lowerThreshold":0,"upperThreshold":0,"forwarding":0,"port":8080,"address":"198.18.0.2","family":2,"x":{}},"\u0063ommand":5,"service":{"fwmark":0,"port":80,"address":"\u0031\u0030.0.0.1","protocol":6,"family":2}})";
    CHECK(Bytes(Parse("[" + shuffled + "]")) == std::string(expected.begin(), expected.end()));
  }
  // 1,500 requests: several send buffers, every index once.
  {
    std::string text = "[";
    for (int i = 0; i < 1500; ++i) text += (i ? "," : "") + addDest;
    Batch b = Parse(text + "]");
    CHECK(b.buffers.size() == 3 && Sent(b) == 1500 && b.invalid.empty());
    CHECK(b.buffers[1].indices[0] == 512);
  }

  // Invalid requests, each alone.
  auto with = [&](const std::string& field, const std::string& value) {
    std::string d = dst;
    size_t at = d.find("\"" + field + "\":");
    size_t start = at + field.size() + 3, end = d.find_first_of(",}", start);
    d.replace(start, end - start, value);
    return One(R"({"command":5,"service":)" + svc + R"(,"destination":)" + d + "}");
  };
  CHECK(with("weight", "1.5").find("weight: expected an integer") == 0);
  CHECK(with("weight", "1e2").find("weight: expected an integer") == 0);
  CHECK(with("weight", "1.0").find("weight: expected an integer") == 0);
  CHECK(with("weight", "-1").find("weight: expected an integer") == 0);
  CHECK(with("weight", "-0").empty());
  CHECK(with("weight", "4294967295").empty());
  CHECK(with("weight", "4294967296").find("weight: expected an integer from 0 to 4294967295") == 0);
  CHECK(with("weight", "99999999999999999999999").find("weight: expected an integer") == 0);
  CHECK(with("weight", "null").find("weight: expected a number") == 0);
  CHECK(with("weight", "\"3\"").find("weight: expected a number") == 0);
  CHECK(with("weight", "true").find("weight: expected a number") == 0);
  CHECK(with("weight", "{}").find("weight: expected a number") == 0);
  CHECK(with("port", "65536").find("port: expected an integer from 0 to 65535") == 0);
  CHECK(with("address", "\"198.18.0.256\"").find("address: invalid IPv4 address") == 0);
  CHECK(with("address", "\"198.18.0.2\\u0000x\"").find("address: contains a NUL") == 0);
  CHECK(with("address", "5").find("address: expected a string") == 0);
  CHECK(with("family", "7").find("family: destination family must be") == 0);
  CHECK(One(R"({"command":5,"service":)" + svc + R"(,"destination":)" + dst.substr(0, dst.size() - 1) + R"(,"tunnelType":256}})").find("tunnelType: expected an integer from 0 to 255") == 0);
  CHECK(One(R"({"command":5,"service":)" + svc + R"(,"destination":)" + dst.substr(0, dst.size() - 1) + R"(,"tunnelType":null}})").find("tunnelType: expected a number") == 0);
  CHECK(One(R"({"command":0})").find("command: expected an IPVS command") == 0);
  CHECK(One(R"({"service":{}})").find("command: expected an IPVS command") == 0);
  CHECK(One(R"({"command":99})").find("command: expected an integer") == 0);
  CHECK(One(R"({"command":1,"service":[]})").find("service: expected an object") == 0);
  CHECK(One(R"({"command":1,"service":null})").empty());  // null: absent
  CHECK(One(R"({"command":1,"keyOnly":1})").find("keyOnly: expected a boolean") == 0);
  CHECK(One(R"({"command":2,"keyOnly":true,"service":)" + svc + "}").empty());
  CHECK(One(R"({"command":1,"service":{"family":3}})").find("family: must be AF_INET or AF_INET6") == 0);
  CHECK(One(R"({"command":1,"service":)" + full.substr(0, full.size() - 1) + R"(,"scheduler":")" + std::string(2000, 'x') + "\"}}").find("an attribute of") == 0);
  // The service's other fields are not read with a destination: not checked either.
  CHECK(One(R"({"command":5,"service":{"family":2,"address":"10.0.0.1","port":80,"protocol":6,"scheduler":7},"destination":)" + dst + "}").empty());
  // A repeated key: the last counts.
  CHECK(One(R"({"command":1,"service":{"family":99},"service":)" + full + "}").empty());
  // Strings: escapes, surrogate pairs, lone surrogates become U+FFFD.
  {
    Batch b = Parse(R"([{"command":1,"service":{"family":2,"address":"10.0.0.1","port":80,"protocol":6,"scheduler":"\ud83d\ude00\u00e9\n\/\"\\","persistenceEngine":"\udc00x\ud800"}}])");
    CHECK(b.invalid.empty() && Sent(b) == 1);
    std::string bytes = Bytes(b);
    CHECK(bytes.find("\xf0\x9f\x98\x80\xc3\xa9\n/\"\\") != std::string::npos);
    CHECK(bytes.find("\xef\xbf\xbdx\xef\xbf\xbd") != std::string::npos);
  }
  // Elements that are not objects are invalid alone; the others still go.
  {
    Batch b = Parse("[null,1,\"x\",[],true," + addDest + "]");
    CHECK(b.invalid.size() == 5 && Sent(b) == 1 && b.buffers[0].indices[0] == 5);
    CHECK(b.invalid[4].index == 4 && b.invalid[0].message == "a request must be an object");
  }

  // Texts that are not one well-formed JSON array: rejected whole.
  for (const char* bad : {"", " ", "{}", "1", "\"[]\"", "null", "[", "]", "[1,]", "[,1]", "[01]", "[1 2]", "[-]", "[1.]",
                          "[.5]", "[1e]", "[+1]", "[tru]", "[nul]", "[\"a\nb\"]", "[\"\\x\"]", "[\"\\u12\"]",
                          "[\"\\u12G4\"]", "[\"abc]", "[{\"a\" 1}]", "[{\"a\":1,}]", "[{1:2}]", "[] []", "[]x",
                          "\xef\xbb\xbf[]", "[{\"command\":1}", "[\"\\ud800\\u00G0\"]"}) {
    if (!Rejects(bad)) {
      std::fprintf(stderr, "not rejected: %s\n", bad);
      ++failed;
    }
  }
  // A syntax error after valid requests still rejects the whole text.
  CHECK(Rejects("[" + addDest + "," + addDest + ",}"));
  // Depth: 32 levels parse, 33 do not; a deep bomb is refused without recursion trouble.
  {
    std::string ok = "[{\"command\":1,\"x\":" + std::string(30, '[') + std::string(30, ']') + "}]";
    CHECK(!Rejects(ok));
    std::string deep = "[{\"command\":1,\"x\":" + std::string(31, '[') + std::string(31, ']') + "}]";
    CHECK(Rejects(deep));
    CHECK(Rejects(std::string(1000000, '[')));
  }
  if (failed == 0) std::printf("json_requests_test: all passed\n");
  return failed == 0 ? 0 : 1;
}
