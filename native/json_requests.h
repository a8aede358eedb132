// RawRequest objects as JSON text (JSON.stringify of the array) to encoded
// requests. Runs on worker threads: nothing here touches Node-API.
#pragma once

#include <cstddef>

#include "batch.h"

namespace ipvs {

// Nesting deeper than this (the array itself is depth 1) is refused.
constexpr int kMaxJsonDepth = 32;

// Parses and encodes every request of the array. A request that does not
// convert (a wrong type, a number that is not an integer in range, a bad
// address, an attribute too long) becomes an 'invalid' failure of its own.
// Throws EncodeError(EINVAL) when the text is not one well-formed JSON array
// (or nests too deep): then nothing may be sent.
Batch ParseRequestsJson(const char* text, size_t length);

}  // namespace ipvs
