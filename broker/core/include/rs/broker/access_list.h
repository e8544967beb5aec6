// AccessList: who may talk to the broker (docs/SECURITY.md). Holds the CURVE allow-lists
// (public key -> role, name, tenant) of the two sockets, answers the ZAP handler's
// requests (a listed key is admitted with its public key as the ZAP User-Id) and names the
// peer behind each message's User-Id. Pure; owned by the broker loop's thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rs/core/result.h"

namespace rs::broker {

inline constexpr const char* kWorkersDomain = "workers";
inline constexpr const char* kClientsDomain = "clients";

enum class PeerRole : uint8_t { kWorker, kClient, kGateway };
std::string_view peer_role_name(PeerRole role);

// One allow-list line: "ROLE NAME PUBLIC-KEY [TENANT]" (a client's tenant is required).
struct AllowedKey {
  PeerRole role = PeerRole::kWorker;
  std::string name;
  std::string public_key;  // Z85
  std::string tenant;      // client keys only
};

// An allow-list file's text for `domain` ("workers": worker keys only; "clients": client
// and gateway keys). Blank lines and '#' comments are skipped; a bad line fails the whole
// list (invalid_argument naming the line), so a typo never revokes everyone silently.
Result<std::vector<AllowedKey>> parse_allow_list(std::string_view text, std::string_view domain);
// One line of an allow-list for `key` (with its trailing newline).
std::string format_allow_line(const AllowedKey& key);

// A ZAP request (RFC 27) as frames after the REP envelope, and the decision.
struct ZapRequest {
  std::string version, request_id, domain, address, routing_id, mechanism;
  std::vector<std::string> credentials;
};
Result<ZapRequest> parse_zap_request(const std::vector<std::string>& frames);
struct ZapDecision {
  bool allowed = false;
  std::string user_id;  // allowed: the key's Z85 public key
  std::string reason;   // refused: "unknown_key", "bad_mechanism", "bad_request"
};
// The reply frames: version, request id, "200"/"400", status text, user id, metadata.
std::vector<std::string> zap_reply(const ZapRequest& request, const ZapDecision& decision);

class AccessList {
 public:
  // Replaces a domain's list; returns the names whose keys left it (revoked).
  std::vector<std::string> replace(std::string_view domain, std::vector<AllowedKey> keys);
  ZapDecision authorize(const ZapRequest& request) const;
  // The key behind a message's User-Id on `domain`'s socket; nullptr if not (or no longer)
  // listed: the message is refused.
  const AllowedKey* identify(std::string_view domain, const std::string& user_id) const;
  size_t size(std::string_view domain) const;

 private:
  using Keys = std::unordered_map<std::string, AllowedKey>;  // by Z85 public key
  const Keys* keys_of(std::string_view domain) const;
  Keys workers_;
  Keys clients_;
};

}  // namespace rs::broker
