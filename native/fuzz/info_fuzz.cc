// GET_INFO's reply (SET_INFO, whose attribute ids collide with SERVICE/DEST):
// ParseInfo (libnl's policy checks).
#include "../ipvs_message.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = fuzz::Copy(data, size);
  nlmsghdr* header = fuzz::Message(bytes);
  if (header == nullptr) return 0;
  ipvs::Info info;
  ipvs::ParseInfo(header, &info);
  return 0;
}
