// Requests encoded into send buffers, ready for NetlinkSession::Execute.
// Nothing here does I/O or touches Node-API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ipvs_types.h"

namespace ipvs {

constexpr size_t kMaxMessagesPerSend = 512;
constexpr size_t kMaxBytesPerSend = 128 * 1024;

// Encoded requests, in send buffers of at most kMaxMessagesPerSend messages
// and kMaxBytesPerSend bytes.
struct Batch {
  struct Buffer {
    std::vector<uint8_t> bytes;     // messages back to back, not yet stamped
    std::vector<uint32_t> indices;  // the request index of each message
  };
  std::vector<Buffer> buffers;
  std::vector<Failure> invalid;  // refused by the encoder, never sent
};

// Builds a Batch request by request. Messages are encoded into one scratch
// buffer, copied out at their final size when it is full: no per-request
// allocation, no over-reserved buffers.
class BatchBuilder {
 public:
  BatchBuilder();
  // Encodes the request; an EncodeError makes it an 'invalid' failure.
  void Add(uint32_t index, const Request& request);
  void AddInvalid(uint32_t index, int error, const std::string& message);
  Batch Finish();

 private:
  void Flush();

  Batch batch_;
  Batch::Buffer current_;
  std::vector<uint8_t> scratch_;
};

}  // namespace ipvs
