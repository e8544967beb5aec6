#include "rs/broker/model_catalog.h"

#include <algorithm>
#include <utility>

#include "rs/broker/hash_ring.h"
#include "rs/schemas/model_ref.h"

namespace rs::broker {

namespace {

schemas::ModelRef split_key(const ModelName& key) {
  // A key a device advertises; one that does not parse as "name@version" is a bare name.
  if (auto ref = schemas::parse_model_ref(key)) return *ref;
  return schemas::ModelRef{key, 0};
}

}  // namespace

ModelCatalog::ModelCatalog(ModelCatalogOptions options) : options_(options) {
  options_.max_sessions = std::max<size_t>(1, options_.max_sessions);
}

void ModelCatalog::set_registry(std::vector<RegistryModel> models) {
  registry_.clear();
  for (RegistryModel& m : models) {
    std::sort(m.versions.begin(), m.versions.end());
    ModelName name = m.name;
    registry_.insert_or_assign(std::move(name), std::move(m));
  }
}

const RegistryModel* ModelCatalog::registry(const ModelName& name) const {
  auto it = registry_.find(name);
  return it == registry_.end() ? nullptr : &it->second;
}

bool ModelCatalog::set_served(const ModelName& key, bool served) {
  schemas::ModelRef ref = split_key(key);
  if (served) {
    advertised_[ref.name].insert(ref.version);
    return served_[ref.name].insert(ref.version).second;
  }
  auto it = served_.find(ref.name);
  if (it == served_.end() || it->second.erase(ref.version) == 0) return false;
  if (it->second.empty()) served_.erase(it);
  return true;
}

bool ModelCatalog::serves(const ModelName& key) const {
  schemas::ModelRef ref = split_key(key);
  auto it = served_.find(ref.name);
  return it != served_.end() && it->second.count(ref.version) != 0;
}

const std::set<uint32_t>* ModelCatalog::served_versions(const ModelName& name) const {
  auto it = served_.find(name);
  return it == served_.end() ? nullptr : &it->second;
}

bool ModelCatalog::knows(const ModelName& name, uint32_t pinned) const {
  auto adv = advertised_.find(name);
  if (adv != advertised_.end() && (pinned == 0 || adv->second.count(pinned) != 0)) return true;
  const RegistryModel* reg = registry(name);
  if (reg == nullptr) return false;
  if (pinned == 0) return true;
  return pinned == reg->active || pinned == reg->canary ||
         std::binary_search(reg->versions.begin(), reg->versions.end(), pinned);
}

bool ModelCatalog::resolvable(const ModelName& name, uint32_t pinned) const {
  const std::set<uint32_t>* versions = served_versions(name);
  if (versions == nullptr) return false;
  return pinned == 0 || versions->count(pinned) != 0;
}

uint32_t ModelCatalog::canary_bucket(const std::string& session_id, uint64_t route_key) {
  uint64_t h = session_id.empty() ? route_key : hash_bytes(session_id);
  return static_cast<uint32_t>(h % 100);
}

// Pinned: that version. Unpinned: the session's version while served; the canary for its
// share of new sessions; the active version; the highest served version; an unversioned
// device.
std::optional<ResolvedModel> ModelCatalog::resolve(const ModelTarget& t) const {
  const std::set<uint32_t>* versions = served_versions(t.name);
  if (versions == nullptr) return std::nullopt;
  auto served = [&](uint32_t v) { return versions->count(v) != 0; };
  auto make = [&](uint32_t v) {
    return std::optional<ResolvedModel>(ResolvedModel{schemas::model_key(t.name, v), v});
  };
  if (t.pinned != 0) return served(t.pinned) ? make(t.pinned) : std::nullopt;
  if (!t.session_id.empty()) {
    if (auto v = session_version(t.name, t.session_id); v && served(*v)) return make(*v);
  }
  if (const RegistryModel* reg = registry(t.name)) {
    if (reg->canary != 0 && reg->canary_percent > 0 && served(reg->canary) &&
        canary_bucket(t.session_id, t.route_key) < reg->canary_percent) {
      return make(reg->canary);
    }
    if (reg->active != 0 && served(reg->active)) return make(reg->active);
  }
  uint32_t highest = *versions->rbegin();  // 0 only when just the unversioned key is served
  return make(highest);
}

std::string ModelCatalog::session_key(const ModelName& name, const std::string& session_id) {
  std::string key = name;
  key += '\0';
  key += session_id;
  return key;
}

void ModelCatalog::record_session(const ModelName& name, const std::string& session_id,
                                  uint32_t version) {
  if (session_id.empty() || version == 0) return;
  std::string key = session_key(name, session_id);
  auto it = sessions_.find(key);
  if (it != sessions_.end()) {
    it->second->second = version;
    session_order_.splice(session_order_.begin(), session_order_, it->second);
    return;
  }
  session_order_.emplace_front(key, version);
  sessions_.emplace(std::move(key), session_order_.begin());
  while (sessions_.size() > options_.max_sessions) {
    sessions_.erase(session_order_.back().first);
    session_order_.pop_back();
  }
}

std::optional<uint32_t> ModelCatalog::session_version(const ModelName& name,
                                                      const std::string& session_id) const {
  auto it = sessions_.find(session_key(name, session_id));
  if (it == sessions_.end()) return std::nullopt;
  return it->second->second;
}

}  // namespace rs::broker
