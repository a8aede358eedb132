// The genl controller's reply to CTRL_CMD_GETFAMILY "IPVS": DecodeFamilyId.
#include "../netlink_session.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = fuzz::Copy(data, size);
  const nlmsghdr* header = fuzz::Message(bytes);
  if (header == nullptr) return 0;
  uint16_t id = 0;
  ipvs::DecodeFamilyId(header, &id);
  return 0;
}
