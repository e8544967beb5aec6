// CURVE keys (CurveZMQ, docs/SECURITY.md): Z85 key pairs from zmq_curve_keypair, the key
// files `ringserve keys zmq new` writes (0600, "name = value" lines) and the socket options
// that make a ROUTER a CURVE server (with its ZAP domain) or a DEALER a CURVE client.
// Pure functions and file I/O; any thread. Never throws.
#pragma once

#include <string>
#include <string_view>
#include <zmq.hpp>

#include "rs/core/result.h"

namespace rs::wire {

inline constexpr size_t kCurveKeyChars = 40;  // a 32-byte key in Z85

struct CurveKeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters; "" when only the public half is known
};

// What a key file holds. role: worker | client | gateway | broker; tenant: a client's.
struct CurveKeyFile {
  std::string role;
  std::string name;
  std::string tenant;
  CurveKeyPair keys;
};

// A CURVE client's credentials (a worker's or a client's DEALER). All empty: plain (NULL).
struct CurveClientKeys {
  std::string server_public_key;  // the broker's public key
  CurveKeyPair own;
  bool enabled() const { return !server_public_key.empty(); }
};

// True for 40 characters of the Z85 alphabet (decodable to 32 bytes).
bool is_z85_key(std::string_view key);
// A fresh key pair (libzmq's zmq_curve_keypair); unavailable if libzmq lacks CURVE.
Result<CurveKeyPair> generate_curve_keypair();

// "name = value" lines ('#' comments): role, name, tenant, public-key, secret-key.
std::string format_curve_key_file(const CurveKeyFile& file);
Result<CurveKeyFile> parse_curve_key_file(std::string_view text);
// Reads a key file (a public-only ".pub" file too: secret_key then ""). invalid_argument
// for a malformed file or a bad key, not_found / io_error for an unreadable one.
Result<CurveKeyFile> read_curve_key_file(const std::string& path);
// Writes `text` to path with mode `mode` (0600 for a secret), replacing it atomically.
Status write_private_file(const std::string& path, std::string_view text, unsigned mode);

// Client credentials from a key file with a secret and the server's key file (or .pub).
Result<CurveClientKeys> load_curve_client_keys(const std::string& key_path,
                                               const std::string& server_key_path);

// Makes `socket` (not yet bound) a CURVE server with `secret_key`, authenticating every
// peer through ZAP in `zap_domain`.
Status set_curve_server(zmq::socket_t& socket, const std::string& secret_key,
                        const std::string& zap_domain);
// Makes `socket` (not yet connected) a CURVE client of the server `keys.server_public_key`.
Status set_curve_client(zmq::socket_t& socket, const CurveClientKeys& keys);

}  // namespace rs::wire
