// AccessList, allow-list files and the ZAP request/reply frames (rs/broker/access_list.h).
#include "rs/broker/access_list.h"

#include <cctype>
#include <set>

namespace rs::broker {
namespace {

constexpr size_t kZ85KeyChars = 40;

std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    size_t b = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (i > b) words.push_back(line.substr(b, i - b));
  }
  return words;
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

// Z85 (ZeroMQ RFC 32), for 32-byte CURVE keys: the core links no libzmq.
constexpr std::string_view kZ85 =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

std::string z85_encode_key(std::string_view bytes) {
  std::string out;
  out.reserve(kZ85KeyChars);
  for (size_t i = 0; i + 4 <= bytes.size(); i += 4) {
    uint32_t v = 0;
    for (size_t j = 0; j < 4; ++j) v = v * 256 + static_cast<uint8_t>(bytes[i + j]);
    char chunk[5];
    for (int k = 4; k >= 0; --k) {
      chunk[k] = kZ85[v % 85];
      v /= 85;
    }
    out.append(chunk, 5);
  }
  return out;
}

// 40 characters of the alphabet whose every 5-character group fits 32 bits.
bool valid_z85_key(std::string_view key) {
  if (key.size() != kZ85KeyChars) return false;
  for (size_t i = 0; i < key.size(); i += 5) {
    uint64_t v = 0;
    for (size_t j = 0; j < 5; ++j) {
      size_t d = kZ85.find(key[i + j]);
      if (d == std::string_view::npos) return false;
      v = v * 85 + d;
    }
    if (v > 0xffffffffULL) return false;
  }
  return true;
}

// One non-comment line -> key, or the reason it is bad.
Result<AllowedKey> parse_line(std::string_view line, std::string_view domain) {
  std::vector<std::string_view> w = split_words(line);
  if (w.size() < 3 || w.size() > 4) return invalid_argument("expected 'ROLE NAME PUBLIC-KEY [TENANT]'");
  AllowedKey key{.name = std::string(w[1]), .public_key = std::string(w[2])};
  if (w[0] == "worker") key.role = PeerRole::kWorker;
  else if (w[0] == "client") key.role = PeerRole::kClient;
  else if (w[0] == "gateway") key.role = PeerRole::kGateway;
  else return invalid_argument("role must be worker, client or gateway");
  const bool workers = domain == kWorkersDomain;
  if (workers != (key.role == PeerRole::kWorker)) {
    return invalid_argument(workers ? "only worker keys belong on the workers' list"
                                    : "only client and gateway keys belong on the clients' list");
  }
  if (!valid_name(key.name)) return invalid_argument("name must be 1-64 of [A-Za-z0-9._-]");
  if (!valid_z85_key(key.public_key)) return invalid_argument("public key must be 40 Z85 characters");
  if (w.size() == 4) key.tenant = std::string(w[3]);
  if (key.role == PeerRole::kClient && key.tenant.empty()) {
    return invalid_argument("a client key needs its tenant");
  }
  if (!key.tenant.empty() && !valid_name(key.tenant)) {
    return invalid_argument("tenant must be 1-64 of [A-Za-z0-9._-]");
  }
  return key;
}

}  // namespace

std::string_view peer_role_name(PeerRole role) {
  switch (role) {
    case PeerRole::kWorker: return "worker";
    case PeerRole::kClient: return "client";
    case PeerRole::kGateway: return "gateway";
  }
  return "unknown";
}

Result<std::vector<AllowedKey>> parse_allow_list(std::string_view text, std::string_view domain) {
  std::vector<AllowedKey> keys;
  std::set<std::string> names;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos || line[first] == '#') continue;
    auto key = parse_line(line, domain);
    if (!key.ok()) {
      return invalid_argument("line " + std::to_string(line_no) + ": " + key.status().message());
    }
    if (!names.insert(key->name).second) {
      return invalid_argument("line " + std::to_string(line_no) + ": name '" + key->name + "' listed twice");
    }
    keys.push_back(std::move(key).value());
  }
  return keys;
}

std::string format_allow_line(const AllowedKey& key) {
  std::string line = std::string(peer_role_name(key.role)) + " " + key.name + " " + key.public_key;
  if (!key.tenant.empty()) line += " " + key.tenant;
  return line + "\n";
}

Result<ZapRequest> parse_zap_request(const std::vector<std::string>& frames) {
  if (frames.size() < 6) return invalid_argument("zap: fewer than 6 frames");
  ZapRequest r{.version = frames[0], .request_id = frames[1], .domain = frames[2],
               .address = frames[3], .routing_id = frames[4], .mechanism = frames[5]};
  r.credentials.assign(frames.begin() + 6, frames.end());
  return r;
}

std::vector<std::string> zap_reply(const ZapRequest& request, const ZapDecision& decision) {
  return {"1.0", request.request_id, decision.allowed ? "200" : "400",
          decision.allowed ? "OK" : decision.reason, decision.allowed ? decision.user_id : "", ""};
}

std::vector<std::string> AccessList::replace(std::string_view domain, std::vector<AllowedKey> keys) {
  Keys fresh;
  for (AllowedKey& k : keys) {
    std::string pub = k.public_key;
    fresh.emplace(std::move(pub), std::move(k));
  }
  Keys& target = domain == kWorkersDomain ? workers_ : clients_;
  std::vector<std::string> removed;
  for (const auto& [pub, key] : target) {
    if (!fresh.contains(pub)) removed.push_back(key.name);
  }
  target = std::move(fresh);
  return removed;
}

ZapDecision AccessList::authorize(const ZapRequest& request) const {
  if (request.version != "1.0") return {.reason = "bad_request"};
  if (request.mechanism != "CURVE" || request.credentials.size() != 1 ||
      request.credentials[0].size() != 32) {
    return {.reason = "bad_mechanism"};
  }
  const Keys* keys = keys_of(request.domain);
  if (keys == nullptr) return {.reason = "bad_request"};
  std::string pub = z85_encode_key(request.credentials[0]);
  if (!keys->contains(pub)) return {.reason = "unknown_key"};
  return {.allowed = true, .user_id = std::move(pub)};
}

const AllowedKey* AccessList::identify(std::string_view domain, const std::string& user_id) const {
  const Keys* keys = keys_of(domain);
  if (keys == nullptr) return nullptr;
  auto it = keys->find(user_id);
  return it == keys->end() ? nullptr : &it->second;
}

size_t AccessList::size(std::string_view domain) const {
  const Keys* keys = keys_of(domain);
  return keys == nullptr ? 0 : keys->size();
}

const AccessList::Keys* AccessList::keys_of(std::string_view domain) const {
  if (domain == kWorkersDomain) return &workers_;
  if (domain == kClientsDomain) return &clients_;
  return nullptr;
}

}  // namespace rs::broker
