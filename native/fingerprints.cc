#include "fingerprints.h"

#include <vector>

namespace ipvs {
namespace {

std::string IdArgument(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "id: expected a service id string");
  std::string id = info[0].As<Napi::String>().Utf8Value();
  if (id.empty()) throw Napi::TypeError::New(info.Env(), "id: expected a service id string, not ''");
  return id;
}

}  // namespace

Napi::Function Fingerprints::Define(Napi::Env env) {
  return DefineClass(env, "Fingerprints",
                     {
                         InstanceMethod<&Fingerprints::Set>("set"),
                         InstanceMethod<&Fingerprints::Get>("get"),
                         InstanceMethod<&Fingerprints::Delete>("delete"),
                         InstanceMethod<&Fingerprints::Update>("update"),
                         InstanceMethod<&Fingerprints::Clear>("clear"),
                         InstanceAccessor<&Fingerprints::Size>("size"),
                     });
}

Fingerprints::Fingerprints(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<Fingerprints>(info), table_(std::make_shared<FingerprintTable>()) {}

FingerprintTable& Fingerprints::Writable() {
  if (table_.use_count() > 1) table_ = std::make_shared<FingerprintTable>(*table_);
  return *table_;
}

Napi::Value Fingerprints::Set(const Napi::CallbackInfo& info) {
  std::string id = IdArgument(info);
  Fingerprint fingerprint;
  if (info.Length() < 2 || !info[1].IsString() ||
      !ParseFingerprintText(info[1].As<Napi::String>().Utf8Value(), &fingerprint))
    throw Napi::TypeError::New(info.Env(), "fingerprint: expected 16 hex digits (lib/fingerprint.ts fingerprint())");
  FingerprintTable& table = Writable();
  table[std::move(id)] = fingerprint;
  return info.This();
}

Napi::Value Fingerprints::Get(const Napi::CallbackInfo& info) {
  std::string id = IdArgument(info);
  auto found = table_->find(id);
  if (found == table_->end()) return info.Env().Undefined();
  return Napi::String::New(info.Env(), FingerprintText(found->second));
}

Napi::Value Fingerprints::Delete(const Napi::CallbackInfo& info) {
  std::string id = IdArgument(info);
  if (table_->find(id) == table_->end()) return Napi::Boolean::New(info.Env(), false);
  Writable().erase(id);
  return Napi::Boolean::New(info.Env(), true);
}

Napi::Value Fingerprints::Update(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "changes: expected a string of lines 'id\\tfingerprint' or 'id\\t-'");
  const std::string text = info[0].As<Napi::String>().Utf8Value();
  // Parsed whole first: a bad line changes nothing.
  struct Change {
    std::string id;
    bool remove;
    Fingerprint fingerprint;
  };
  std::vector<Change> changes;
  size_t line = 0;
  for (size_t start = 0; start < text.size(); ++line) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const size_t tab = text.find('\t', start);
    Change c{};
    bool ok = tab != std::string::npos && tab > start && tab < end;
    if (ok) {
      c.id.assign(text, start, tab - start);
      const std::string value(text, tab + 1, end - tab - 1);
      c.remove = value == "-";
      ok = c.remove || ParseFingerprintText(value, &c.fingerprint);
    }
    if (!ok)
      throw Napi::TypeError::New(info.Env(), "changes: line " + std::to_string(line + 1) +
                                                 " is not 'id\\t' and 16 hex digits or '-' (lib/desired/model.ts)");
    changes.push_back(std::move(c));
    start = end + 1;
  }
  if (!changes.empty()) {
    FingerprintTable& table = Writable();
    for (Change& c : changes) {
      if (c.remove) table.erase(c.id);
      else table[std::move(c.id)] = c.fingerprint;
    }
  }
  return Napi::Number::New(info.Env(), static_cast<double>(changes.size()));
}

Napi::Value Fingerprints::Clear(const Napi::CallbackInfo& info) {
  // A fresh table rather than Writable(): nothing to copy.
  if (table_.use_count() > 1) table_ = std::make_shared<FingerprintTable>();
  else table_->clear();
  return info.Env().Undefined();
}

Napi::Value Fingerprints::Size(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(table_->size()));
}

}  // namespace ipvs
