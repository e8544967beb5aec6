#include "rs/store/keys.h"

namespace rs::store {
namespace {
std::string join(const std::string& prefix, std::string_view kind, std::string_view id) {
  std::string k;
  k.reserve(prefix.size() + kind.size() + id.size());
  k += prefix;
  k += kind;
  k += id;
  return k;
}
}  // namespace

std::string KeySpace::job(std::string_view job_id) const { return join(prefix, "job:", job_id); }
std::string KeySpace::idempotency(std::string_view key) const { return join(prefix, "idem:", key); }
std::string KeySpace::tokens(std::string_view job_id) const { return join(prefix, "tokens:", job_id); }
std::string KeySpace::dead_letter() const { return prefix + "dead"; }
std::string KeySpace::live() const { return prefix + "live"; }

std::string KeySpace::ingest() const { return prefix + "ingest"; }
std::string KeySpace::batch(std::string_view batch_id) const { return join(prefix, "batch:", batch_id); }
std::string KeySpace::batch_results(std::string_view batch_id) const {
  return join(prefix, "batch:", batch_id) + ":results";
}

std::string KeySpace::models_names() const { return prefix + "models:names"; }
std::string KeySpace::models_epoch() const { return prefix + "models:epoch"; }
std::string KeySpace::models_channel() const { return prefix + "models:events"; }
std::string KeySpace::model(std::string_view name, std::string_view part) const {
  std::string k = join(prefix, "models:", name);
  k += ':';
  k += part;
  return k;
}

std::string KeySpace::api_keys() const {
  return prefix + "apikeys";
}
std::string KeySpace::api_key_ids() const {
  return prefix + "apikeys:ids";
}
std::string KeySpace::api_keys_version() const {
  return prefix + "apikeys:version";
}

}  // namespace rs::store
