// CURVE keys: generation, key files and the socket options (rs/wire/curve.h).
#include "rs/wire/curve.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "zmq_status.h"

namespace rs::wire {
namespace {

std::string_view trim_view(std::string_view s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// Sets one field of a key file from "name = value"; false for an unknown name.
bool set_field(CurveKeyFile& f, std::string_view name, std::string_view value) {
  if (name == "role") f.role = value;
  else if (name == "name") f.name = value;
  else if (name == "tenant") f.tenant = value;
  else if (name == "public-key") f.keys.public_key = value;
  else if (name == "secret-key") f.keys.secret_key = value;
  else return false;
  return true;
}

}  // namespace

bool is_z85_key(std::string_view key) {
  if (key.size() != kCurveKeyChars) return false;
  std::array<uint8_t, 32> out{};
  const std::string copy(key);
  return zmq_z85_decode(out.data(), copy.c_str()) != nullptr;
}

Result<CurveKeyPair> generate_curve_keypair() {
  std::array<char, kCurveKeyChars + 1> pub{};
  std::array<char, kCurveKeyChars + 1> sec{};
  if (zmq_curve_keypair(pub.data(), sec.data()) != 0) {
    return Status(StatusCode::kUnavailable, "curve: this libzmq has no CURVE (zmq_curve_keypair failed)");
  }
  return CurveKeyPair{.public_key = pub.data(), .secret_key = sec.data()};
}

std::string format_curve_key_file(const CurveKeyFile& f) {
  std::string out = f.keys.secret_key.empty()
                        ? "# ringserve CURVE public key\n"
                        : "# ringserve CURVE key pair: keep this file secret (mode 0600)\n";
  if (!f.role.empty()) out += "role = " + f.role + "\n";
  if (!f.name.empty()) out += "name = " + f.name + "\n";
  if (!f.tenant.empty()) out += "tenant = " + f.tenant + "\n";
  out += "public-key = " + f.keys.public_key + "\n";
  if (!f.keys.secret_key.empty()) out += "secret-key = " + f.keys.secret_key + "\n";
  return out;
}

Result<CurveKeyFile> parse_curve_key_file(std::string_view text) {
  CurveKeyFile f;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = trim_view(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos ||
        !set_field(f, trim_view(line.substr(0, eq)), trim_view(line.substr(eq + 1)))) {
      return invalid_argument("key file line " + std::to_string(line_no) + ": expected 'name = value'");
    }
  }
  if (!is_z85_key(f.keys.public_key)) return invalid_argument("key file: no valid public-key");
  if (!f.keys.secret_key.empty() && !is_z85_key(f.keys.secret_key)) {
    return invalid_argument("key file: the secret-key is not a Z85 key");
  }
  return f;
}

Result<CurveKeyFile> read_curve_key_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return errno == ENOENT ? not_found("key file " + path + " not found")
                           : io_error("key file " + path + ": " + std::strerror(errno));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto parsed = parse_curve_key_file(ss.str());
  if (!parsed.ok()) return invalid_argument(path + ": " + parsed.status().message());
  return parsed;
}

Status write_private_file(const std::string& path, std::string_view text, unsigned mode) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return io_error("write " + tmp + ": " + std::strerror(errno));
  (void)::fchmod(fd, mode);  // O_CREAT's mode is masked by the umask; an old file kept its own
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return io_error("write " + tmp + ": " + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return io_error("write " + tmp + ": " + std::strerror(errno));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return io_error("rename " + tmp + ": " + std::strerror(errno));
  }
  return Status();
}

Result<CurveClientKeys> load_curve_client_keys(const std::string& key_path,
                                               const std::string& server_key_path) {
  RS_ASSIGN_OR_RETURN(CurveKeyFile own, read_curve_key_file(key_path));
  if (own.keys.secret_key.empty()) return invalid_argument(key_path + ": no secret-key (a .pub file?)");
  RS_ASSIGN_OR_RETURN(CurveKeyFile server, read_curve_key_file(server_key_path));
  return CurveClientKeys{.server_public_key = server.keys.public_key, .own = own.keys};
}

Status set_curve_server(zmq::socket_t& socket, const std::string& secret_key,
                        const std::string& zap_domain) {
  if (!is_z85_key(secret_key)) return invalid_argument("curve: the server secret key is not Z85");
  try {
    socket.set(zmq::sockopt::curve_server, 1);
    socket.set(zmq::sockopt::curve_secretkey, secret_key);
    socket.set(zmq::sockopt::zap_domain, zap_domain);
    return Status();
  } catch (const zmq::error_t& e) {
    return zmq_status(e.num(), "curve server options");
  }
}

Status set_curve_client(zmq::socket_t& socket, const CurveClientKeys& keys) {
  if (!is_z85_key(keys.server_public_key) || !is_z85_key(keys.own.public_key) ||
      !is_z85_key(keys.own.secret_key)) {
    return invalid_argument("curve: client keys must be Z85 (40 characters)");
  }
  try {
    socket.set(zmq::sockopt::curve_serverkey, keys.server_public_key);
    socket.set(zmq::sockopt::curve_publickey, keys.own.public_key);
    socket.set(zmq::sockopt::curve_secretkey, keys.own.secret_key);
    return Status();
  } catch (const zmq::error_t& e) {
    return zmq_status(e.num(), "curve client options");
  }
}

}  // namespace rs::wire
