// A listing read in batches (Handle.listCursor()): the service dump is taken
// once, into C++ records, at the first next(); each next() then dumps the
// destinations of up to batchSize services and hands over one RawListing of
// them, so the memory JS holds per batch is bounded by batchSize, not by the
// table. Every next() and close() takes its turn on the handle's ordered call
// queue, like any other call.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "listing.h"
#include "netlink_session.h"

namespace ipvs {

struct CursorState {
  bool destinations = false;
  bool stats = false;
  uint32_t batchSize = 1;
  bool started = false;
  bool done = false;
  std::vector<ServiceRecord> services;
  size_t position = 0;
};

class Cursor : public Napi::ObjectWrap<Cursor> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Cursor(const Napi::CallbackInfo& info);
  // A cursor over `session` (only Handle.listCursor() makes them).
  static Napi::Object New(Napi::Env env, std::shared_ptr<NetlinkSession> session, const CursorState& options);

 private:
  // next(): Promise<RawListing | null>; null at the end (and after close()).
  Napi::Value Next(const Napi::CallbackInfo& info);
  // close(): Promise<void>; frees the service records now.
  Napi::Value Close(const Napi::CallbackInfo& info);

  std::shared_ptr<NetlinkSession> session_;
  std::shared_ptr<CursorState> state_;
};

// The next batch (nothing at the end). Worker thread, holding the session's turn.
std::optional<Listing> NextBatch(NetlinkSession& session, CursorState& state);

}  // namespace ipvs
