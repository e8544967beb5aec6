// Pool: CURVE keys for `ringserve up` (docs/SECURITY.md). var/keys holds the broker's key
// pair, one per worker (its name is the worker's id), the gateway's and the CLI's (both
// gateway-role: they name the tenant per request), and the two allow-lists. Made once;
// a restarted `up` in the same directory keeps them. Main thread only.
#include <filesystem>
#include <fstream>
#include <string>

#include "curve_keys.h"
#include "up_pool.h"

namespace rs::cli {
namespace {

namespace fs = std::filesystem;

// True when `name` has a key file and is on its allow-list (the broker's: has a key file).
bool key_ready(const std::string& dir, const std::string& role, const std::string& name) {
  if (!fs::exists(dir + "/" + name + ".key") || !fs::exists(dir + "/" + name + ".pub")) return false;
  if (role == "broker") return true;
  std::ifstream in(allow_list_path(dir, role));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(role + " " + name + " ", 0) == 0) return true;
  }
  return false;
}

}  // namespace

Status Pool::prepare_keys() {
  if (options_.insecure) return Status();
  info_.keys_dir = var_ + "/keys";
  std::vector<std::pair<std::string, std::string>> wanted = {{"broker", "broker"},
                                                             {"gateway", "gateway"},
                                                             {"gateway", "cli"}};
  for (int i = 1; i <= options_.workers; ++i) wanted.emplace_back("worker", "worker-" + std::to_string(i));
  for (const auto& [role, name] : wanted) {
    if (key_ready(info_.keys_dir, role, name)) continue;
    auto issued = issue_curve_key(CurveKeyRequest{.dir = info_.keys_dir, .role = role, .name = name,
                                                  .replace = true});
    if (!issued.ok()) return issued.status();
  }
  return Status();
}

std::vector<std::string> Pool::broker_security_args() const {
  if (info_.keys_dir.empty()) return {"--insecure"};
  return {"--curve-key", info_.keys_dir + "/broker.key", "--allow-workers",
          info_.keys_dir + "/workers.allow", "--allow-clients", info_.keys_dir + "/clients.allow"};
}

std::vector<std::string> Pool::peer_key_args(const std::string& name) const {
  if (info_.keys_dir.empty()) return {};
  return {"--curve-key", info_.keys_dir + "/" + name + ".key", "--broker-key",
          info_.keys_dir + "/broker.pub"};
}

}  // namespace rs::cli
