// CURVE against a real `ringserve up` pool (CURVE by default: keys under var/keys): peers
// with no key, a wrong server key, an unlisted key or random bytes get nothing (no
// DISPATCH, no ACCEPTED) while the listed worker serves; a worker key READYing as another
// worker moves no job; a revoked key is cut off without a broker restart; a client key
// sees only its tenant's jobs (not_found). Each refusal is counted in the broker's
// ringserve_auth_refused_total (docs/SECURITY.md).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "http_client.h"
#include "process_harness.h"
#include "redis_server.h"
#include "ringserve_run.h"
#include "rs/client/async_client.h"
#include "rs/client/client.h"
#include "rs/schemas/errors.h"
#include "rs/wire/curve.h"
#include "test_paths.h"
#include "wire_peer.h"

namespace rs::test::curve_it {
namespace {

constexpr int kCurveStartMs = 120000;
constexpr long kSilenceMs = 1500;  // how long an impostor is watched for anything at all

std::string curve_file_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "NAME URL" lines of var/metrics -> the port of NAME.
int metrics_port(const std::filesystem::path& var, const std::string& name) {
  std::istringstream in(curve_file_text(var / "metrics"));
  for (std::string n, url; in >> n >> url;) {
    if (n == name) return std::stoi(url.substr(url.rfind(':') + 1));
  }
  return 0;
}

std::string scrape(int port) {
  HttpConnection c;
  if (!c.connect(port)) return {};
  c.send_raw("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  auto r = c.read_response(5000);
  return r ? r->body : std::string();
}

// The sum of a family's series whose line contains every one of `parts` (0 if none).
double metric_sum(const std::string& text, const std::string& family,
                  const std::vector<std::string>& parts) {
  double sum = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(family, 0) != 0 || line[family.size()] == '_') continue;
    bool all = true;
    for (const auto& p : parts) all = all && line.find(p) != std::string::npos;
    if (all) sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

class CurveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisServer::available()) {
      if (in_ci()) FAIL() << "redis-server not installed";
      GTEST_SKIP() << "redis-server not installed";
    }
    ASSERT_FALSE(tmp_.path().empty());
  }

  // `ringserve up` (CURVE) with a step delay, so that jobs run long enough to be moved.
  void start_pool(int workers) {
    up_ = std::make_unique<RingserveRun>(
        tmp_.path(), std::vector<std::string>{"up", "--workers", std::to_string(workers), "--devices",
                                              "1", "--no-gateway", "--step-delay-ms", "20"},
        "up");
    ASSERT_TRUE(Pool::poll_until(kCurveStartMs, [&] {
      return !up_->running() || up_->out().find("pool ready") != std::string::npos;
    }));
    ASSERT_TRUE(up_->running()) << up_->logs();
    const std::string out = up_->out();
    auto at = out.find("workers tcp://");
    ASSERT_NE(at, std::string::npos) << out;
    worker_endpoint_ = out.substr(at + 8, out.find_first_of(" \n", at + 8) - at - 8);
    client_endpoint_ = curve_file_text(var() / "endpoint");
    while (!client_endpoint_.empty() && client_endpoint_.back() == '\n') client_endpoint_.pop_back();
    broker_metrics_ = metrics_port(var(), "broker");
    ASSERT_GT(broker_metrics_, 0);
  }

  std::filesystem::path var() const { return std::filesystem::path(tmp_.path()) / "var"; }
  std::string keys(const std::string& file) const { return (var() / "keys" / file).string(); }

  int ringserve(std::vector<std::string> args, const std::string& tag) {
    RingserveRun run(tmp_.path(), std::move(args), tag);
    return run.wait_exit(30000);
  }

  // Issues a key and waits until the broker lists it (its allow-list gauge).
  void new_key(const std::string& role, const std::string& name, const std::string& tenant = {}) {
    const std::string socket = role == "worker" ? "workers" : "clients";
    const double before = allowed(socket);
    std::vector<std::string> args = {"keys", "zmq", "new", "--role", role, name, "--dir", keys("")};
    if (!tenant.empty()) args.insert(args.end(), {"--tenant", tenant});
    ASSERT_EQ(ringserve(args, "key-" + name), 0);
    ASSERT_TRUE(Pool::poll_until(10000, [&] { return allowed(socket) > before; }));
  }
  double allowed(const std::string& socket) {
    return metric_sum(scrape(broker_metrics_), "ringserve_allowed_keys", {"\"" + socket + "\""});
  }
  double refused(const std::string& socket, const std::string& reason) {
    return metric_sum(scrape(broker_metrics_), "ringserve_auth_refused_total",
                      {"\"" + socket + "\"", "\"" + reason + "\""});
  }

  std::unique_ptr<client::Client> client_with(const std::string& key, const std::string& server_key,
                                              int timeout_ms = 5000) {
    client::ClientOptions co;
    co.endpoint = client_endpoint_;
    co.request_timeout_ms = timeout_ms;
    if (!key.empty()) {
      auto curve = client::resolve_curve(key, server_key);
      EXPECT_TRUE(curve.ok()) << curve.status().to_string();
      if (curve.ok()) co.curve = *curve;
    }
    auto c = client::Client::connect(co);
    EXPECT_TRUE(c.ok());
    return c.ok() ? std::move(c).value() : nullptr;
  }
  wire::CurveClientKeys wire_keys(const std::string& key, const std::string& server_key) {
    auto k = wire::load_curve_client_keys(key, server_key);
    EXPECT_TRUE(k.ok()) << k.status().to_string();
    return k.ok() ? *k : wire::CurveClientKeys{};
  }

  static schemas::SubmitRequest job(uint32_t max_tokens, const std::string& tenant = {}) {
    schemas::SubmitRequest r;
    r.model = "synth";
    r.prompt = "Once upon a time";
    r.max_tokens = max_tokens;
    r.ignore_eos = true;
    r.tenant = tenant;
    return r;
  }

  TempDir tmp_{"rs-curve"};
  std::unique_ptr<RingserveRun> up_;
  std::string client_endpoint_, worker_endpoint_;
  int broker_metrics_ = 0;
  zmq::context_t context_{1};
};

// Key files for `name` under `role`, on no list yet; its public key (Z85).
std::string write_key_files(const std::string& dir, const std::string& role, const std::string& name) {
  auto pair = wire::generate_curve_keypair();
  EXPECT_TRUE(pair.ok());
  if (!pair.ok()) return {};
  wire::CurveKeyFile f{.role = role, .name = name, .keys = *pair};
  EXPECT_TRUE(wire::write_private_file(dir + "/" + name + ".key", wire::format_curve_key_file(f), 0600).ok());
  return pair->public_key;
}

void append_line(const std::string& path, const std::string& line) {
  std::ofstream out(path, std::ios::app);
  out << line << "\n";
}

// A fresh key pair's files (not on any list): name.key with its secret, name.pub.
void write_unlisted_key(const std::string& dir, const std::string& name) {
  auto pair = wire::generate_curve_keypair();
  ASSERT_TRUE(pair.ok());
  wire::CurveKeyFile f{.role = "worker", .name = name, .keys = *pair};
  ASSERT_TRUE(wire::write_private_file(dir + "/" + name + ".key", wire::format_curve_key_file(f), 0600).ok());
  f.keys.secret_key.clear();
  ASSERT_TRUE(wire::write_private_file(dir + "/" + name + ".pub", wire::format_curve_key_file(f), 0644).ok());
}

// Writes random bytes to a TCP endpoint "tcp://127.0.0.1:PORT" and closes.
void send_garbage(const std::string& endpoint) {
  const int port = std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string junk(4096, '\0');
  for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 2654435761u) >> 13);
  (void)::write(fd, junk.data(), junk.size());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ::close(fd);
}

schemas::WorkerReady ready_as(const std::string& id) {
  return schemas::WorkerReady{.worker_id = id,
                              .devices = {schemas::DeviceInfo{.index = 0, .models = {"synth"},
                                                              .free_slots = 64, .max_slots = 64}}};
}

TEST_F(CurveTest, PeersWithoutAListedKeyGetNothingWhileTheListedWorkerServes) {
  ASSERT_NO_FATAL_FAILURE(start_pool(1));
  ASSERT_NO_FATAL_FAILURE(write_unlisted_key(keys(""), "stranger"));
  const auto stranger = wire_keys(keys("stranger.key"), keys("broker.pub"));
  auto wrong_server = stranger;
  wrong_server.server_public_key = stranger.own.public_key;  // not the broker's key
  new_key("worker", "listed-but-other");  // its key names another worker: see the next test

  // Three would-be workers READY for the model: plain, wrong server key, unlisted key.
  std::vector<std::unique_ptr<WirePeer>> peers;
  peers.push_back(std::make_unique<WirePeer>(context_, worker_endpoint_, "plain"));
  peers.push_back(std::make_unique<WirePeer>(context_, worker_endpoint_, "wrong", wrong_server));
  peers.push_back(std::make_unique<WirePeer>(context_, worker_endpoint_, "unlisted", stranger));
  for (auto& p : peers) {
    ASSERT_TRUE(p->ok());
    ASSERT_TRUE(p->send(ready_as("worker-9")));
  }
  send_garbage(worker_endpoint_);
  send_garbage(client_endpoint_);

  // Jobs keep coming: every one is served by the listed worker.
  auto cli = client_with(keys("cli.key"), keys("broker.pub"));
  ASSERT_NE(cli, nullptr);
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    auto a = cli->submit(job(4));
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    ids.push_back(a->job_id);
  }
  for (auto& p : peers) EXPECT_FALSE(p->got_anything(kSilenceMs)) << "a keyless peer heard the broker";
  for (const auto& id : ids) {
    auto r = cli->wait(id, nullptr, 60000);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->state, schemas::JobState::kSucceeded);
    EXPECT_EQ(r->worker, "worker-1");
  }
  auto devices = cli->workers();
  ASSERT_TRUE(devices.ok());
  for (const auto& d : *devices) EXPECT_EQ(d.worker, "worker-1");

  // Clients the same: no ACCEPTED without a listed key and the broker's public key.
  for (const auto& [key, server] : std::vector<std::pair<std::string, std::string>>{
           {"", ""}, {keys("stranger.key"), keys("broker.pub")}, {keys("cli.key"), keys("stranger.pub")}}) {
    auto c = client_with(key, server, 1500);
    ASSERT_NE(c, nullptr);
    auto a = c->submit(job(2));
    EXPECT_FALSE(a.ok()) << "accepted from key '" << key << "' / server '" << server << "'";
  }
  // Counted: protocol failures (plain, wrong server key, garbage) and ZAP refusals.
  EXPECT_TRUE(Pool::poll_until(5000, [&] {
    return refused("workers", "unknown_key") >= 1 && refused("clients", "unknown_key") >= 1 &&
           refused("workers", "handshake_protocol") + refused("workers", "handshake_other") >= 1 &&
           refused("clients", "handshake_protocol") + refused("clients", "handshake_other") >= 1;
  })) << scrape(broker_metrics_);
  EXPECT_TRUE(up_->running()) << up_->logs();
}

TEST_F(CurveTest, AReadyReusingALiveWorkersIdWithAnotherKeyMovesNoJob) {
  ASSERT_NO_FATAL_FAILURE(start_pool(1));
  new_key("worker", "impostor");
  auto cli = client_with(keys("cli.key"), keys("broker.pub"));
  ASSERT_NE(cli, nullptr);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    auto a = cli->submit(job(40));
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    ids.push_back(a->job_id);
  }
  ASSERT_TRUE(Pool::poll_until(20000, [&] {
    auto s = cli->status(ids.back());
    return s.ok() && s->state == schemas::JobState::kRunning;
  }));
  // A listed worker key READYs as worker-1, on worker-1's own routing id too.
  WirePeer impostor(context_, worker_endpoint_, "worker-1",
                    wire_keys(keys("impostor.key"), keys("broker.pub")));
  ASSERT_TRUE(impostor.ok());
  ASSERT_TRUE(impostor.send(ready_as("worker-1")));
  EXPECT_FALSE(impostor.got_anything(kSilenceMs)) << "the impostor was answered";
  for (const auto& id : ids) {
    auto r = cli->wait(id, nullptr, 120000);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->state, schemas::JobState::kSucceeded);
    EXPECT_EQ(r->worker, "worker-1");
    EXPECT_EQ(r->attempt, 1u) << "the job was moved";
    EXPECT_EQ(r->usage.completion_tokens, 40u);
  }
  EXPECT_GE(refused("workers", "identity_mismatch"), 1) << scrape(broker_metrics_);
}

TEST_F(CurveTest, RevokingAKeyCutsItsPeerOffWithoutARestart) {
  ASSERT_NO_FATAL_FAILURE(start_pool(2));
  new_key("client", "alice", "acme");
  auto alice = client_with(keys("alice.key"), keys("broker.pub"), 1500);
  ASSERT_NE(alice, nullptr);
  auto first = alice->submit(job(2));
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  ASSERT_TRUE(alice->wait(first->job_id, nullptr, 60000).ok());

  ASSERT_EQ(ringserve({"keys", "zmq", "revoke", "alice", "--dir", keys("")}, "revoke-alice"), 0);
  ASSERT_EQ(ringserve({"keys", "zmq", "revoke", "worker-2", "--dir", keys("")}, "revoke-w2"), 0);
  ASSERT_TRUE(Pool::poll_until(10000, [&] { return allowed("clients") == 2 && allowed("workers") == 1; }));
  // The open connection: refused at its next message; a new one fails its handshake.
  EXPECT_FALSE(alice->submit(job(2)).ok());
  auto again = client_with(keys("alice.key"), keys("broker.pub"), 1500);
  ASSERT_NE(again, nullptr);
  EXPECT_FALSE(again->submit(job(2)).ok());
  EXPECT_GE(refused("clients", "revoked"), 1) << scrape(broker_metrics_);

  // worker-2 is gone from the pool; every job runs on worker-1.
  auto cli = client_with(keys("cli.key"), keys("broker.pub"));
  ASSERT_NE(cli, nullptr);
  ASSERT_TRUE(Pool::poll_until(10000, [&] {
    auto d = cli->workers();
    return d.ok() && d->size() == 1 && d->front().worker == "worker-1";
  }));
  for (int i = 0; i < 4; ++i) {
    auto a = cli->submit(job(3));
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    auto r = cli->wait(a->job_id, nullptr, 60000);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->worker, "worker-1");
  }
  EXPECT_TRUE(up_->running()) << up_->logs();
}

TEST_F(CurveTest, AClientKeySeesOnlyItsTenantsJobs) {
  ASSERT_NO_FATAL_FAILURE(start_pool(1));
  new_key("client", "alice", "acme");
  new_key("client", "bob", "globex");
  auto alice = client_with(keys("alice.key"), keys("broker.pub"));
  auto bob = client_with(keys("bob.key"), keys("broker.pub"));
  ASSERT_NE(alice, nullptr);
  ASSERT_NE(bob, nullptr);
  // A key submits for its own tenant only.
  auto other = alice->submit(job(2, "globex"));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(schemas::wire_error_of(other.status()), schemas::ErrorCode::kPermissionDenied);

  auto live = alice->submit(job(200));  // long: still running while bob looks
  ASSERT_TRUE(live.ok()) << live.status().to_string();
  auto done = alice->submit(job(2));
  ASSERT_TRUE(done.ok());
  ASSERT_TRUE(alice->wait(done->job_id, nullptr, 60000).ok());
  auto unknown_status = bob->status("j-0000000000000000-1");
  ASSERT_FALSE(unknown_status.ok());
  for (const std::string& id : {live->job_id, done->job_id}) {
    auto s = bob->status(id);
    ASSERT_FALSE(s.ok()) << id;
    EXPECT_EQ(schemas::wire_error_of(s.status()), schemas::ErrorCode::kNotFound);
    Status sub = bob->subscribe(id, 0);
    if (sub.ok()) {
      auto w = bob->wait(id, nullptr, 10000);
      ASSERT_FALSE(w.ok()) << "bob read alice's job " << id;
      EXPECT_EQ(schemas::wire_error_of(w.status()), schemas::ErrorCode::kNotFound)
          << id << (id == live->job_id ? " (live): " : " (ended): ") << w.status().to_string();
    } else {
      EXPECT_EQ(schemas::wire_error_of(sub), schemas::ErrorCode::kNotFound);
    }
    auto c = bob->cancel(id);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(schemas::wire_error_of(c.status()), schemas::ErrorCode::kNotFound);
  }
  // The owner (and the operator's gateway-role key) still see them; the job ran untouched.
  auto mine = alice->status(live->job_id);
  ASSERT_TRUE(mine.ok());
  EXPECT_EQ(mine->tenant, "acme");
  auto cli = client_with(keys("cli.key"), keys("broker.pub"));
  ASSERT_TRUE(cli->status(done->job_id).ok());
  auto cancelled = alice->cancel(live->job_id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().to_string();
  // The pool's workers are not a tenant's business; the operator's key lists them.
  auto workers = bob->workers();
  ASSERT_FALSE(workers.ok());
  EXPECT_EQ(schemas::wire_error_of(workers.status()), schemas::ErrorCode::kPermissionDenied);
  auto listed = cli->workers();
  ASSERT_TRUE(listed.ok()) << listed.status().to_string();
  EXPECT_FALSE(listed->empty());
}


// ZeroMQ never retries a connection whose handshake was refused. A peer that started before
// its key was listed still gets in once it is, without a restart: the worker drops the
// socket and opens a new one (with backoff), and so does the gateway's AsyncClient; the
// blocking client (the CLI) says permission_denied at once instead of timing out.
TEST_F(CurveTest, PeersStartedBeforeTheirKeyWasListedGetInOnceItIs) {
  ASSERT_NO_FATAL_FAILURE(start_pool(1));
  const std::string dir = keys("");
  const std::string worker_pub = write_key_files(dir, "worker", "late");
  const std::string gateway_pub = write_key_files(dir, "gateway", "late-gw");
  const std::string client_pub = write_key_files(dir, "client", "late-cli");

  auto cli = client_with(keys("late-cli.key"), keys("broker.pub"), 20000);
  ASSERT_NE(cli, nullptr);
  auto pong = cli->ping();
  ASSERT_FALSE(pong.ok());
  EXPECT_EQ(schemas::wire_error_of(pong.status()), schemas::ErrorCode::kPermissionDenied)
      << pong.status().to_string();

  ChildProcess worker;
  ASSERT_TRUE(worker.start({bin_dir() + "/ringserve-worker", "--broker", worker_endpoint_, "--devices", "1",
                            "--model", (var() / "models" / "synth.gguf").string(), "--model-name", "synth",
                            "--curve-key", keys("late.key"), "--broker-key", keys("broker.pub"),
                            "--log-level", "info"},
                           (std::filesystem::path(tmp_.path()) / "late-worker.log").string()));
  client::ClientOptions go;
  go.endpoint = client_endpoint_;
  auto curve = client::resolve_curve(keys("late-gw.key"), keys("broker.pub"));
  ASSERT_TRUE(curve.ok()) << curve.status().to_string();
  go.curve = *curve;
  auto gateway = client::AsyncClient::connect(go);
  ASSERT_TRUE(gateway.ok()) << gateway.status().to_string();
  bool gateway_refused = false;
  ASSERT_TRUE(Pool::poll_until(20000, [&] {
    return (gateway_refused = gateway_refused || (*gateway)->link_change().refused);
  }));
  ASSERT_TRUE(Pool::poll_until(20000, [&] { return refused("workers", "unknown_key") > 0; }));

  const double workers_before = allowed("workers"), clients_before = allowed("clients");
  append_line(keys("workers.allow"), "worker late " + worker_pub);
  append_line(keys("clients.allow"), "gateway late-gw " + gateway_pub);
  append_line(keys("clients.allow"), "client late-cli " + client_pub + " acme");
  ASSERT_TRUE(Pool::poll_until(10000, [&] {
    return allowed("workers") > workers_before && allowed("clients") >= clients_before + 2;
  }));

  // The worker joins the pool (its backoff caps at 5 s) ...
  auto op = client_with(keys("cli.key"), keys("broker.pub"));
  ASSERT_NE(op, nullptr);
  ASSERT_TRUE(Pool::poll_until(30000, [&] {
    auto devices = op->workers();
    if (!devices.ok()) return false;
    for (const auto& d : *devices) {
      if (d.worker == "late") return true;
    }
    return false;
  })) << curve_file_text(std::filesystem::path(tmp_.path()) / "late-worker.log");
  // ... and the AsyncClient, reopening by itself, gets its PONG.
  bool ponged = false;
  ASSERT_TRUE(Pool::poll_until(40000, [&] {
    (void)(*gateway)->link_change();
    if ((*gateway)->writable()) (void)(*gateway)->ping();
    (void)(*gateway)->wait(100);
    for (;;) {
      auto m = (*gateway)->receive();
      if (!m.ok() || !m->has_value()) break;
      ponged = ponged || std::holds_alternative<schemas::Pong>(**m);
    }
    return ponged;
  }));
  // A new CLI run with the client key works too.
  auto again = client_with(keys("late-cli.key"), keys("broker.pub"));
  ASSERT_NE(again, nullptr);
  EXPECT_TRUE(again->ping().ok());
}

}  // namespace
}  // namespace rs::test::curve_it
