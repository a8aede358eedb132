// NEW_DAEMON replies (the GET_DAEMON dump): ParseDaemon (libnl's policy checks).
#include <sys/socket.h>

#include "../ipvs_message.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = fuzz::Copy(data, size);
  nlmsghdr* header = fuzz::Message(bytes);
  if (header == nullptr) return 0;
  ipvs::Daemon daemon;
  if (!ipvs::ParseDaemon(header, &daemon)) return 0;
  if (daemon.multicastGroup) FUZZ_CHECK(daemon.multicastGroup->family == AF_INET || daemon.multicastGroup->family == AF_INET6);
  return 0;
}
