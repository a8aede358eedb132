// GET_CONFIG's reply (SET_CONFIG): ParseTimeouts (libnl's policy checks).
#include "../ipvs_message.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = fuzz::Copy(data, size);
  nlmsghdr* header = fuzz::Message(bytes);
  if (header == nullptr) return 0;
  ipvs::Timeouts timeouts;
  ipvs::ParseTimeouts(header, &timeouts);
  return 0;
}
