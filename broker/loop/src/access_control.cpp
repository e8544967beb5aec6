// BrokerLoop: CURVE on both ROUTERs, the ZAP handler (a REP socket on the loop's own poll:
// one owner for the allow-lists, no lock) and the allow-list files, re-read when they
// change or on SIGHUP. A key that leaves a list is refused from its next message on; a
// worker's jobs go elsewhere at once (docs/SECURITY.md).
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "rs/broker/loop/broker_loop.h"
#include "rs/wire/curve.h"
#include "rs/wire/framing.h"

namespace rs::broker {
namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";

// The file's modification time (ns), -1 if it cannot be read.
int64_t mtime_ns(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return not_found("allow-list " + path + " cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Status BrokerLoop::start_access(wire::RouterOptions& workers, wire::RouterOptions& clients) {
  RS_ASSIGN_OR_RETURN(wire::CurveKeyFile key, wire::read_curve_key_file(options_.curve_key_path));
  if (key.keys.secret_key.empty()) {
    return invalid_argument(options_.curve_key_path + ": the broker's key file needs its secret-key");
  }
  if (options_.allow_workers_path.empty() || options_.allow_clients_path.empty()) {
    return invalid_argument("curve: both allow-lists (--allow-workers, --allow-clients) are needed");
  }
  allow_files_ = {AllowFile{.path = options_.allow_workers_path, .domain = kWorkersDomain},
                  AllowFile{.path = options_.allow_clients_path, .domain = kClientsDomain}};
  RS_RETURN_IF_ERROR(reload_allow_lists(true));
  try {
    zap_ = zmq::socket_t(context_, zmq::socket_type::rep);
    zap_.set(zmq::sockopt::linger, 0);
    zap_.bind(kZapEndpoint);
  } catch (const zmq::error_t& e) {
    return Status(StatusCode::kUnavailable, std::string("zap handler: bind ") + kZapEndpoint + ": " + e.what());
  }
  for (wire::RouterOptions* r : {&workers, &clients}) {
    r->curve_secret_key = key.keys.secret_key;
    r->handover = false;  // a live connection's routing id is never taken over
  }
  workers.zap_domain = kWorkersDomain;
  clients.zap_domain = kClientsDomain;
  spdlog::info("broker: CURVE on; public key {}; {} worker key(s), {} client key(s)",
               key.keys.public_key, access_.size(kWorkersDomain), access_.size(kClientsDomain));
  return Status();
}

// Each request is answered at once (REP: one in, one out); ZeroMQ holds the handshake
// until then.
void BrokerLoop::serve_zap() {
  for (int i = 0; i < 256; ++i) {
    wire::Received r = wire::recv_frames(zap_, wire::RecvLimits{.max_frames = 16, .max_total_bytes = 4096});
    if (r.status == wire::RecvStatus::kWouldBlock || r.status == wire::RecvStatus::kClosed) return;
    ZapRequest request;
    ZapDecision decision{.reason = "bad_request"};
    if (r.status == wire::RecvStatus::kMessage) {
      if (auto parsed = parse_zap_request(r.envelope.frames); parsed.ok()) {
        request = std::move(parsed).value();
        decision = access_.authorize(request);
      }
    }
    if (!decision.allowed) {
      const std::string socket = request.domain == kWorkersDomain ? kWorkersDomain : kClientsDomain;
      state_->metrics().auth_refused(socket, decision.reason);
      spdlog::warn("broker: {} connection from {} refused: {}", socket, request.address, decision.reason);
    }
    (void)wire::send_frames(zap_, zap_reply(request, decision), wire::IoMode::kBlock);
  }
}

// A list that fails to parse keeps the previous one (at start: an error).
Status BrokerLoop::reload_allow_lists(bool at_start) {
  for (AllowFile& f : allow_files_) {
    const int64_t mtime = mtime_ns(f.path);
    if (!at_start && mtime == f.mtime_ns) continue;
    f.mtime_ns = mtime;
    auto text = read_text(f.path);
    auto keys = text.ok() ? parse_allow_list(*text, f.domain) : Result<std::vector<AllowedKey>>(text.status());
    if (!keys.ok()) {
      if (at_start) return invalid_argument(f.path + ": " + keys.status().message());
      spdlog::error("broker: allow-list {} not reloaded (the previous one stays): {}", f.path,
                    keys.status().to_string());
      continue;
    }
    std::vector<std::string> removed = access_.replace(f.domain, std::move(keys).value());
    state_->metrics().allowed_keys(f.domain, access_.size(f.domain));
    if (!at_start) spdlog::info("broker: allow-list {} reloaded: {} key(s)", f.path, access_.size(f.domain));
    for (const std::string& name : removed) {
      spdlog::warn("broker: {} key '{}' revoked", f.domain, name);
      if (f.domain == std::string_view(kWorkersDomain)) state_->on_worker_revoked(name);
    }
  }
  if (at_start) return Status();
  // A revoked client's connections are gone for the state (its streams end).
  for (auto it = client_fd_keys_.begin(); it != client_fd_keys_.end();) {
    if (access_.identify(kClientsDomain, it->second) != nullptr) {
      ++it;
      continue;
    }
    state_->on_client_fd_closed(it->first);
    it = client_fd_keys_.erase(it);
  }
  return Status();
}

void BrokerLoop::maybe_reload() {
  const int64_t now = clock_.now_ns();
  const bool asked = reload_.exchange(false, std::memory_order_relaxed);
  if (!asked && now < next_allow_check_ns_) return;
  next_allow_check_ns_ = now + static_cast<int64_t>(options_.allow_list_poll_ms) * 1'000'000;
  if (asked) {
    for (AllowFile& f : allow_files_) f.mtime_ns = -2;  // read them whatever their time
  }
  (void)reload_allow_lists(false);
}

const AllowedKey* BrokerLoop::identify(const char* domain, int fd, const std::string& user_id) {
  const AllowedKey* key = access_.identify(domain, user_id);
  if (key == nullptr) {
    // Admitted by ZAP once, not listed now: revoked (or no ZAP User-Id at all).
    state_->metrics().auth_refused(domain, user_id.empty() ? "no_identity" : "revoked");
    return nullptr;
  }
  if (domain == std::string_view(kClientsDomain) && fd >= 0) {
    auto [it, inserted] = client_fd_keys_.try_emplace(fd, user_id);
    if (!inserted && it->second != user_id) it->second = user_id;
  }
  return key;
}

}  // namespace rs::broker
