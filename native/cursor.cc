#include "cursor.h"

#include "addon_data.h"
#include "dumps.h"
#include "session_worker.h"

namespace ipvs {

std::optional<Listing> NextBatch(NetlinkSession& session, CursorState& state) {
  if (state.done) return std::nullopt;
  // The up-front dump would let a cursor keep answering from its records
  // after its handle was closed: refuse, as every other call does.
  if (!session.IsOpen()) throw SessionError(SessionError::Kind::Closed, EBADF, "the IPVS handle is not open");
  if (!state.started) {
    state.services = DumpServices(session);
    state.started = true;
  }
  Listing listing(state.stats, kStreamChunkBytes);
  uint32_t count = 0;
  while (count < state.batchSize && state.position < state.services.size()) {
    const ServiceRecord& service = state.services[state.position++];
    if (!state.destinations) {
      listing.AppendService(service, false);
      ++count;
      continue;
    }
    std::vector<DestinationRecord> destinations = DestinationRecords(session, service.key);
    // Deleted since the service dump (its destination dump is empty, as a
    // service without destinations has): skipped, not an error.
    if (destinations.empty() && !ServiceExists(session, service.key)) continue;
    listing.AppendService(service, true);
    for (const DestinationRecord& d : destinations) listing.AppendDestination(d, false);
    listing.CloseService();
    ++count;
  }
  if (state.position >= state.services.size()) {
    state.done = true;
    std::vector<ServiceRecord>().swap(state.services);
  }
  if (count == 0) return std::nullopt;
  listing.Finish();
  return listing;
}

Napi::Function Cursor::Define(Napi::Env env) {
  return DefineClass(env, "Cursor",
                     {
                         InstanceMethod<&Cursor::Next>("next"),
                         InstanceMethod<&Cursor::Close>("close"),
                     });
}

Cursor::Cursor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Cursor>(info) {}

Napi::Object Cursor::New(Napi::Env env, std::shared_ptr<NetlinkSession> session, const CursorState& options) {
  Napi::Object object = AddonDataOf(env).cursor.New({});
  Cursor* cursor = Cursor::Unwrap(object);
  cursor->session_ = std::move(session);
  cursor->state_ = std::make_shared<CursorState>(options);
  return object;
}

Napi::Value Cursor::Next(const Napi::CallbackInfo& info) {
  if (!session_) throw Napi::TypeError::New(info.Env(), "a cursor comes from Handle.listCursor()");
  std::shared_ptr<CursorState> state = state_;
  return SessionWorker<std::optional<Listing>>::Start(
      info.Env(), session_, [state](NetlinkSession& s) { return NextBatch(s, *state); },
      [](Napi::Env env, std::optional<Listing>& listing) -> Napi::Value {
        if (!listing) return env.Null();
        return FromListing(env, *listing);
      });
}

Napi::Value Cursor::Close(const Napi::CallbackInfo& info) {
  if (!session_) throw Napi::TypeError::New(info.Env(), "a cursor comes from Handle.listCursor()");
  std::shared_ptr<CursorState> state = state_;
  // In turn, so that a next() already queued finishes first.
  return SessionWorker<bool>::Start(
      info.Env(), session_,
      [state](NetlinkSession&) {
        state->done = true;
        std::vector<ServiceRecord>().swap(state->services);
        return true;
      },
      [](Napi::Env env, bool&) { return env.Undefined(); });
}

}  // namespace ipvs
