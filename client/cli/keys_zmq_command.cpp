// `ringserve keys zmq new|revoke|list`: CURVE key pairs for the broker, workers, clients
// and gateways, and the broker's allow-lists (curve_keys.h; docs/SECURITY.md). Files only:
// the broker re-reads a changed allow-list within a second (or at once on SIGHUP).
// Main thread only.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "curve_keys.h"
#include "json_format.h"
#include "models_access.h"

namespace rs::cli {
namespace {

struct ZmqNewArgs {
  CommonOptions common;
  CurveKeyRequest request;
};

struct ZmqRevokeArgs {
  CommonOptions common;
  std::string dir = "var/keys";
  std::string name;
};

struct ZmqListArgs {
  CommonOptions common;
  std::string dir = "var/keys";
};

void print_json(const nlohmann::ordered_json& j) {
  std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

int run_zmq_new(const ZmqNewArgs& args) {
  auto issued = issue_curve_key(args.request);
  if (!issued.ok()) return report_status(args.common, issued.status());
  if (args.common.json) {
    print_json({{"name", args.request.name}, {"role", args.request.role},
                {"tenant", args.request.tenant}, {"public_key", issued->public_key},
                {"key_file", issued->key_path}, {"public_file", issued->pub_path},
                {"allow_list", issued->allow_list}});
  } else {
    std::printf("%s\n", issued->key_path.c_str());
  }
  std::fflush(stdout);
  std::fprintf(stderr, "note: %s key '%s' in %s (secret, 0600), public key in %s%s%s\n",
               args.request.role.c_str(), args.request.name.c_str(), issued->key_path.c_str(),
               issued->pub_path.c_str(), issued->allow_list.empty() ? "" : "; listed in ",
               issued->allow_list.c_str());
  return kExitOk;
}

int run_zmq_revoke(const ZmqRevokeArgs& args) {
  auto lists = revoke_curve_key(args.dir, args.name);
  if (!lists.ok()) return report_status(args.common, lists.status());
  if (args.common.json) {
    print_json({{"name", args.name}, {"revoked", true}, {"lists", *lists}});
  } else {
    std::printf("revoked %s\n", args.name.c_str());
  }
  std::fflush(stdout);
  return kExitOk;
}

int run_zmq_list(const ZmqListArgs& args) {
  auto keys = list_curve_keys(args.dir);
  if (!keys.ok()) return report_status(args.common, keys.status());
  if (args.common.json) {
    for (const auto& k : *keys) {
      print_json({{"role", k.role}, {"name", k.name}, {"tenant", k.tenant},
                  {"public_key", k.public_key}});
    }
  } else if (keys->empty()) {
    std::printf("no keys on the allow-lists in %s\n", args.dir.c_str());
  } else {
    std::vector<std::vector<std::string>> rows{{"ROLE", "NAME", "TENANT", "PUBLIC KEY"}};
    for (const auto& k : *keys) rows.push_back({k.role, k.name, k.tenant.empty() ? "-" : k.tenant, k.public_key});
    std::fputs(aligned_table(rows).c_str(), stdout);
  }
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace

void add_keys_zmq_command(CLI::App& keys) {
  CLI::App* zmq = keys.add_subcommand("zmq", "CURVE keys of the broker's peers: new, revoke, list");
  zmq->require_subcommand(1);

  auto add = std::make_shared<ZmqNewArgs>();
  CLI::App* n = zmq->add_subcommand("new", "make a key pair (NAME.key, 0600) and allow its public key");
  n->add_option("name", add->request.name, "the key's name: a worker's id, a client's or gateway's name")
      ->required();
  n->add_option("--role", add->request.role, "worker | client | gateway | broker")->required();
  n->add_option("--tenant", add->request.tenant, "a client key's tenant (required for --role client)");
  n->add_option("--dir", add->request.dir, "where the key files and allow-lists are")->capture_default_str();
  n->add_flag("--replace", add->request.replace, "rotate: a new key for an existing name (the old one stops working)");
  n->add_flag("--json", add->common.json, "one JSON object on stdout");
  n->callback([add] { exit_code() = run_zmq_new(*add); });

  auto revoke = std::make_shared<ZmqRevokeArgs>();
  CLI::App* r = zmq->add_subcommand("revoke", "remove a key from the allow-lists (the broker cuts it off)");
  r->add_option("name", revoke->name, "the key's name")->required();
  r->add_option("--dir", revoke->dir, "where the allow-lists are")->capture_default_str();
  r->add_flag("--json", revoke->common.json, "one JSON object on stdout");
  r->callback([revoke] { exit_code() = run_zmq_revoke(*revoke); });

  auto list = std::make_shared<ZmqListArgs>();
  CLI::App* l = zmq->add_subcommand("list", "the keys on the allow-lists");
  l->add_option("--dir", list->dir, "where the allow-lists are")->capture_default_str();
  l->add_flag("--json", list->common.json, "one JSON object per key");
  l->callback([list] { exit_code() = run_zmq_list(*list); });
}

}  // namespace rs::cli
