// ModelCatalog: what the broker knows of model versions. The registry's routing (active
// and canary version of each name, fed by the loop's poll), which model keys devices serve
// right now (mirrored from the Router by the Dispatcher), the session -> version map
// (bounded, least recently used evicted) and the rule that turns a job's model reference
// into the model key it runs on (docs/BROKER.md, "Model versions"). Pure; no clock, no I/O.
// Not thread-safe: the broker loop thread only.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rs/broker/types.h"

namespace rs::broker {

// One registry name as the broker caches it: its versions and which take new jobs.
struct RegistryModel {
  ModelName name;
  uint32_t active = 0;          // 0: none
  uint32_t canary = 0;          // 0: none
  uint32_t canary_percent = 0;  // share of new sessions sent to the canary (1-99)
  std::vector<uint32_t> versions;  // every version the registry holds
  bool operator==(const RegistryModel&) const = default;
};

// The model key a job runs on: "name@version", or "name" (version 0) for an unversioned device.
struct ResolvedModel {
  ModelName key;
  uint32_t version = 0;
  bool operator==(const ResolvedModel&) const = default;
};

struct ModelCatalogOptions {
  size_t max_sessions = 100000;  // session -> version entries kept (least recently used go)
};

// A job's model reference: name, and the pinned version (0: unpinned).
struct ModelTarget {
  ModelName name;
  uint32_t pinned = 0;
  std::string session_id;  // empty: none
  uint64_t route_key = 0;  // canary bucket when there is no session
};

class ModelCatalog {
 public:
  explicit ModelCatalog(ModelCatalogOptions options = {});

  // Replaces the registry view (every name the registry holds).
  void set_registry(std::vector<RegistryModel> models);
  const RegistryModel* registry(const ModelName& name) const;

  // Whether some device serves the model key now; true if that changed anything.
  bool set_served(const ModelName& key, bool served);
  bool serves(const ModelName& key) const;
  // Versions of name served now, ascending (0 = an unversioned "name" device).
  const std::set<uint32_t>* served_versions(const ModelName& name) const;

  // Known: a device ever advertised it, or the registry holds it (pinned: that version).
  bool knows(const ModelName& name, uint32_t pinned) const;
  // Some device serves what the job may run on (pinned: that key; else any key of name).
  bool resolvable(const ModelName& name, uint32_t pinned) const;

  // The key the job runs on now (resolution order in docs/BROKER.md), or nullopt when
  // nobody serves it. Does not change the session map: call record_session on dispatch.
  std::optional<ResolvedModel> resolve(const ModelTarget& target) const;
  // An unpinned job of the session was dispatched on version (0 is not recorded).
  void record_session(const ModelName& name, const std::string& session_id, uint32_t version);
  std::optional<uint32_t> session_version(const ModelName& name, const std::string& session_id) const;
  size_t sessions() const { return sessions_.size(); }

  // xxh3_64(session_id) % 100, or route_key % 100 without a session.
  static uint32_t canary_bucket(const std::string& session_id, uint64_t route_key);

 private:
  using SessionList = std::list<std::pair<std::string, uint32_t>>;  // most recent first
  static std::string session_key(const ModelName& name, const std::string& session_id);

  ModelCatalogOptions options_;
  std::map<ModelName, RegistryModel> registry_;
  std::map<ModelName, std::set<uint32_t>> served_;      // name -> versions served now
  std::map<ModelName, std::set<uint32_t>> advertised_;  // name -> versions ever served
  SessionList session_order_;
  std::unordered_map<std::string, SessionList::iterator> sessions_;
};

}  // namespace rs::broker
