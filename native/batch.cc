#include "batch.h"

#include "wire.h"

namespace ipvs {

BatchBuilder::BatchBuilder() { scratch_.reserve(kMaxBytesPerSend); }

void BatchBuilder::Flush() {
  current_.bytes.assign(scratch_.begin(), scratch_.end());
  batch_.buffers.push_back(std::move(current_));
  current_ = Batch::Buffer();
  scratch_.clear();
}

void BatchBuilder::Add(uint32_t index, const Request& request) {
  // A message is at most kMaxMessageBytes: flushing before the next one could
  // overflow keeps every buffer within kMaxBytesPerSend.
  if (current_.indices.size() == kMaxMessagesPerSend || scratch_.size() + kMaxMessageBytes > kMaxBytesPerSend) Flush();
  Writer writer(&scratch_);
  try {
    EncodeRequest(writer, request);
  } catch (const EncodeError& e) {
    writer.Abort();
    AddInvalid(index, e.error, e.what());
    return;
  }
  current_.indices.push_back(index);
}

void BatchBuilder::AddInvalid(uint32_t index, int error, const std::string& message) {
  batch_.invalid.push_back({index, error, Outcome::Invalid, "", message});
}

Batch BatchBuilder::Finish() {
  if (!current_.indices.empty()) Flush();
  return std::move(batch_);
}

}  // namespace ipvs
