// `ringserve keys add|list|revoke`: the gateway's API keys in Redis (rs::store::ApiKeys),
// found as `models` finds Redis (--redis, RINGSERVE_REDIS, ./var/redis); never the broker.
// `add` prints the key once on stdout; only its SHA-256 is stored. Main thread only.
#include <cstdio>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "json_format.h"
#include "models_access.h"
#include "rs/store/api_keys.h"

namespace rs::cli {

namespace {

struct KeysAddArgs {
  ModelsOptions options;  // --redis, --json (--broker, --timeout-ms accepted; --broker unused)
  std::string tenant;
  std::string scopes = "infer,jobs:read";  // --scope
};

struct KeysListArgs {
  ModelsOptions options;
};

struct KeysRevokeArgs {
  ModelsOptions options;
  std::string id;  // an id from `keys list`, or the key itself
};

// "2026-11-22 03:28:47" (UTC), "-" for 0.
std::string key_created_text(uint64_t created_ms) {
  if (created_ms == 0) return "-";
  std::time_t t = static_cast<std::time_t>(created_ms / 1000);
  std::tm tm{};
  if (::gmtime_r(&t, &tm) == nullptr) return "-";
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

void print_json_line(const nlohmann::ordered_json& j) {
  std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

int run_keys_add(const KeysAddArgs& args) {
  const CommonOptions& common = args.options.common;
  // Refuse a bad tenant before looking for Redis: the clearer error.
  if (Status s = store::check_tenant(args.tenant); !s.ok()) return report_status(common, s);
  auto scopes = store::parse_scopes(args.scopes);
  if (!scopes.ok()) return report_status(common, scopes.status());
  auto access = RegistryAccess::open(args.options);
  if (!access.ok()) return report_status(common, access.status());
  store::ApiKeys keys((*access)->connection());
  auto added = keys.add(args.tenant, *scopes);
  if (!added.ok()) return report_status(common, added.status());
  const std::string scope_list = store::scopes_text(added->scopes);
  if (common.json) {
    print_json_line({{"key", added->key},
                     {"id", added->id},
                     {"tenant", added->tenant},
                     {"scopes", scope_list}});
  } else {
    std::printf("%s\n", added->key.c_str());
  }
  std::fflush(stdout);
  std::fprintf(stderr,
               "note: key %s for tenant %s (scopes %s): store it now, it cannot be shown again\n",
               added->id.c_str(), added->tenant.c_str(), scope_list.c_str());
  return kExitOk;
}

int run_keys_list(const KeysListArgs& args) {
  const CommonOptions& common = args.options.common;
  auto access = RegistryAccess::open(args.options);
  if (!access.ok()) return report_status(common, access.status());
  auto listed = store::ApiKeys((*access)->connection()).list();
  if (!listed.ok()) return report_status(common, listed.status());
  if (common.json) {
    for (const auto& k : *listed) {
      print_json_line({{"id", k.id},
                       {"tenant", k.tenant},
                       {"scopes", store::scopes_text(k.scopes)},
                       {"created_ms", k.created_ms}});
    }
  } else if (listed->empty()) {
    std::printf("no api keys\n");
  } else {
    std::vector<std::vector<std::string>> rows{{"ID", "TENANT", "SCOPES", "CREATED (UTC)"}};
    for (const auto& k : *listed) {
      rows.push_back(
          {k.id, k.tenant, store::scopes_text(k.scopes), key_created_text(k.created_ms)});
    }
    std::fputs(aligned_table(rows).c_str(), stdout);
  }
  std::fflush(stdout);
  return kExitOk;
}

int run_keys_revoke(const KeysRevokeArgs& args) {
  const CommonOptions& common = args.options.common;
  auto access = RegistryAccess::open(args.options);
  if (!access.ok()) return report_status(common, access.status());
  if (Status s = store::ApiKeys((*access)->connection()).revoke(args.id); !s.ok()) {
    return report_status(common, s);
  }
  // An id is the key's first 12 characters: never echo a whole key.
  std::string id = args.id.substr(0, 12);
  if (common.json) {
    print_json_line({{"id", id}, {"revoked", true}});
  } else {
    std::printf("revoked %s\n", id.c_str());
  }
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace

void add_keys_command(CLI::App& app) {
  CLI::App* keys = app.add_subcommand(
      "keys", "API keys of the HTTP gateway (add, list, revoke); CURVE keys of the broker's peers (zmq)");
  keys->require_subcommand(1);
  add_keys_zmq_command(*keys);

  auto add = std::make_shared<KeysAddArgs>();
  CLI::App* a = keys->add_subcommand("add", "make a key for a tenant; prints it once");
  a->add_option("tenant", add->tenant, "tenant name: 1-64 of [A-Za-z0-9._-]");
  a->add_option("--tenant", add->tenant, "the tenant (instead of the positional argument)");
  a->add_option("--scope", add->scopes,
                "what the key may do: comma-separated infer, jobs:read, admin "
                "(default infer,jobs:read)");
  add_models_options(*a, add->options);
  a->callback([add] {
    if (add->tenant.empty()) throw CLI::RequiredError("a tenant (TENANT or --tenant)");
    exit_code() = run_keys_add(*add);
  });

  auto list = std::make_shared<KeysListArgs>();
  CLI::App* l = keys->add_subcommand("list", "every key: id, tenant, scopes, created (never the key)");
  add_models_options(*l, list->options);
  l->callback([list] { exit_code() = run_keys_list(*list); });

  auto revoke = std::make_shared<KeysRevokeArgs>();
  CLI::App* r = keys->add_subcommand("revoke", "remove a key at once, by its id (or the key)");
  r->add_option("id", revoke->id, "key id from `keys list` (rsk-xxxxxxxx), or the key")->required();
  add_models_options(*r, revoke->options);
  r->callback([revoke] { exit_code() = run_keys_revoke(*revoke); });
}

}  // namespace rs::cli
