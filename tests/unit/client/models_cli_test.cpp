// `ringserve models` (spawned from bin_dir()) against a real redis-server: add records the
// file's SHA-256, architecture and tensor type, refuses a file that is not a valid GGUF;
// list --json lines carry the required keys in order; activate / canary / rollback / rm
// and their exit codes; loaded_on from a scripted broker answering WORKERS, [] without one;
// where the Redis address comes from (--redis, RINGSERVE_REDIS, ./var/redis).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "redis_server.h"
#include "rs/engine/gguf.h"
#include "rs/schemas/frames.h"
#include "rs/store/file_sha256.h"
#include "rs/store/model_registry.h"
#include "rs/store/redis_connection.h"
#include "rs/wire/framing.h"
#include "rs/wire/poller.h"
#include "rs/wire/socket.h"
#include "test_paths.h"

namespace rs::client::testing {
namespace {

namespace fs = std::filesystem;
namespace sc = rs::schemas;
using engine::GgmlType;

struct ModelsCliRun {
  int exit_code = -1;
  std::vector<nlohmann::ordered_json> lines;  // stdout, one JSON object per line (--json)
  std::string out;
  std::string err;
};

// A GGUF file: a llama-like header and two matrices of `type` plus a norm vector.
std::vector<uint8_t> gguf_bytes(GgmlType type, int file_type, const std::string& arch = "llama") {
  engine::GgufWriter w;
  if (!arch.empty()) w.add_string("general.architecture", arch);
  if (file_type >= 0) w.add_u32("general.file_type", static_cast<uint32_t>(file_type));
  w.add_u32(arch + ".embedding_length", 64);
  const int64_t n = 64;
  const auto row = static_cast<size_t>(engine::ggml_row_bytes(type, n));
  for (const char* name : {"token_embd.weight", "blk.0.attn_q.weight"}) {
    w.add_tensor(name, {n, 8}, type, std::vector<uint8_t>(row * 8, 0));
  }
  w.add_tensor("output_norm.weight", {n}, GgmlType::kF32, std::vector<uint8_t>(n * 4, 0));
  return w.serialize();
}

// Plays the broker's client endpoint: answers every WORKERS with `devices`.
class ScriptedBroker {
 public:
  explicit ScriptedBroker(std::vector<sc::DeviceStatus> devices) : devices_(std::move(devices)) {
    auto r = wire::make_router(context_);
    if (!r.ok()) return;
    socket_ = std::move(r).value();
    auto ep = wire::bind_endpoint(socket_, "tcp://127.0.0.1:*");
    if (!ep.ok()) return;
    endpoint_ = *ep;
    thread_ = std::thread([this] { run(); });
  }
  ~ScriptedBroker() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  const std::string& endpoint() const { return endpoint_; }
  int answered() const { return answered_.load(); }

 private:
  void run() {
    wire::Poller poller;
    poller.add(socket_);
    while (!stop_.load()) {
      auto ready = poller.poll(20);
      if (!ready.ok() || *ready == 0) continue;
      wire::Received r = wire::recv_frames(socket_, wire::RecvLimits{.n_routing = 1});
      if (r.status != wire::RecvStatus::kMessage) continue;
      auto m = sc::parse_frames(r.envelope.frames);
      if (!m.ok()) continue;
      if (auto* req = std::get_if<sc::WorkersRequest>(&*m)) {
        sc::WorkersReply reply{.request_id = req->request_id, .devices = devices_};
        answered_.fetch_add(1);  // before the send: the CLI may exit as soon as it has the reply
        wire::send_message(socket_, r.envelope.routing, reply, wire::IoMode::kBlock);
      }
    }
  }
  zmq::context_t context_;
  zmq::socket_t socket_;
  std::string endpoint_;
  std::vector<sc::DeviceStatus> devices_;
  std::atomic<bool> stop_{false};
  std::atomic<int> answered_{0};
  std::thread thread_;
};

class ModelsCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::RedisServer::available()) GTEST_SKIP() << "redis-server not installed";
    ASSERT_TRUE(redis_.start());
    dir_ = fs::path(::testing::TempDir()) / ("models_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string redis_address() const { return "127.0.0.1:" + std::to_string(redis_.port()); }
  // --redis, and a broker: by default one that answers WORKERS with no devices.
  std::string flags(const std::string& broker = "") const {
    return " --redis " + redis_address() + " --broker " + (broker.empty() ? idle_broker_.endpoint() : broker) +
           " --timeout-ms 300";
  }

  std::string write_file(const std::string& name, const std::vector<uint8_t>& bytes) {
    std::string path = (dir_ / name).string();
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  std::string model_file(const std::string& name, GgmlType type = GgmlType::kF16, int file_type = 1) {
    return write_file(name, gguf_bytes(type, file_type));
  }

  // Runs `prefix ringserve args` in a shell (cwd: the test's directory).
  ModelsCliRun ringserve(const std::string& args, bool json = true, const std::string& prefix = "") {
    std::string err_path = (dir_ / "stderr.txt").string();
    std::string cmd = "cd " + dir_.string() + " && " + prefix + fs::absolute(test::bin_dir()).string() +
                      "/ringserve " + args + (json ? " --json" : "") + " 2>" + err_path;
    ModelsCliRun run;
    FILE* p = ::popen(cmd.c_str(), "r");
    EXPECT_NE(p, nullptr);
    if (p == nullptr) return run;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) run.out.append(buf, n);
    int status = ::pclose(p);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream e(err_path);
    std::stringstream ss;
    ss << e.rdbuf();
    run.err = ss.str();
    if (json) {
      std::istringstream lines(run.out);
      for (std::string line; std::getline(lines, line);) {
        auto j = nlohmann::ordered_json::parse(line, nullptr, false);
        EXPECT_FALSE(j.is_discarded()) << "not JSON: " << line;
        run.lines.push_back(j);
      }
    }
    return run;
  }

  std::vector<nlohmann::ordered_json> list(const std::string& extra = "") {
    ModelsCliRun r = ringserve("models list" + extra + flags());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    return r.lines;
  }

  // The required keys first, in order, then only the documented extra keys.
  static void expect_version_keys(const nlohmann::ordered_json& j) {
    const std::vector<std::string> required = {"name", "version", "active", "sha256", "path", "loaded_on", "error"};
    const std::vector<std::string> extra = {"canary_percent", "size_bytes", "architecture", "tensor_type",
                                            "created_ms", "note", "chat"};
    std::vector<std::string> keys;
    for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
    ASSERT_GE(keys.size(), required.size()) << j.dump();
    for (size_t i = 0; i < required.size(); ++i) EXPECT_EQ(keys[i], required[i]) << j.dump();
    for (size_t i = required.size(); i < keys.size(); ++i) {
      EXPECT_NE(std::find(extra.begin(), extra.end(), keys[i]), extra.end()) << keys[i];
    }
    EXPECT_TRUE(j["loaded_on"].is_array());
  }

  static constexpr const char* kNoBroker = "tcp://127.0.0.1:1";  // nothing listens there

  test::RedisServer redis_;
  ScriptedBroker idle_broker_{{}};
  fs::path dir_;
};

TEST_F(ModelsCliTest, AddRecordsChecksumArchitectureAndTensorType) {
  auto bytes = gguf_bytes(GgmlType::kF16, 1);
  std::string path = write_file("v1.gguf", bytes);
  ModelsCliRun a = ringserve("models add tiny v1.gguf --note first" + flags());
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(a.lines.size(), 1u) << a.out;
  const auto& j = a.lines[0];
  expect_version_keys(j);
  EXPECT_EQ(j["name"], "tiny");
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["active"], false);
  EXPECT_EQ(j["sha256"], store::sha256_hex(bytes.data(), bytes.size()));
  EXPECT_EQ(j["path"], fs::absolute(path).lexically_normal().string());
  EXPECT_EQ(j["size_bytes"], bytes.size());
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["tensor_type"], "f16");
  EXPECT_EQ(j["note"], "first");
  EXPECT_GT(j["created_ms"].get<uint64_t>(), 0u);

  // Without general.file_type: the type holding most matrix bytes.
  model_file("v2.gguf", GgmlType::kQ8_0, -1);
  ModelsCliRun b = ringserve("models add tiny v2.gguf --activate" + flags());
  ASSERT_EQ(b.exit_code, 0) << b.err;
  ASSERT_EQ(b.lines.size(), 1u);
  EXPECT_EQ(b.lines[0]["version"], 2);
  EXPECT_EQ(b.lines[0]["active"], true);
  EXPECT_EQ(b.lines[0]["tensor_type"], "q8_0");

  auto lines = list();
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& l : lines) expect_version_keys(l);
  EXPECT_EQ(lines[0]["version"], 1);
  EXPECT_EQ(lines[0]["active"], false);
  EXPECT_EQ(lines[0]["sha256"], j["sha256"]);
  EXPECT_EQ(lines[1]["version"], 2);
  EXPECT_EQ(lines[1]["active"], true);

  ModelsCliRun human = ringserve("models add tiny v1.gguf" + flags(), /*json=*/false);
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_EQ(human.out.rfind("added tiny@3 (llama, f16, ", 0), 0u) << human.out;
  ModelsCliRun table = ringserve("models list tiny" + flags(), /*json=*/false);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out.rfind("NAME", 0), 0u) << table.out;
  EXPECT_NE(table.out.find("active"), std::string::npos) << table.out;
}

// A version's chat: the GGUF's template, or --chat-template FILE (checked: a template that does
// not parse is refused); a file without one says so in `models list`.
TEST_F(ModelsCliTest, ChatTemplateOfAVersionIsCheckedRecordedAndListed) {
  write_file("v1.gguf", gguf_bytes(GgmlType::kF16, 1));
  ModelsCliRun none = ringserve("models add tiny v1.gguf" + flags());
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(none.lines[0]["chat"], "unavailable: the GGUF has no tokenizer.chat_template");

  const std::string tmpl = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}";
  write_file("chat.jinja", std::vector<uint8_t>(tmpl.begin(), tmpl.end()));
  ModelsCliRun with = ringserve("models add tiny v1.gguf --chat-template chat.jinja" + flags());
  ASSERT_EQ(with.exit_code, 0) << with.err;
  EXPECT_EQ(with.lines[0]["chat"], "file");
  store::RedisOptions ro;
  ro.port = redis_.port();
  store::RedisConnection conn(ro);
  store::ModelRegistry registry(conn);
  auto stored = registry.get("tiny", 2);
  ASSERT_TRUE(stored.ok()) << stored.status().to_string();
  EXPECT_EQ(stored->chat_template, tmpl);
  EXPECT_EQ(stored->chat, "file");

  const std::string broken = "{% for m in messages %}{{ m.content }";
  write_file("broken.jinja", std::vector<uint8_t>(broken.begin(), broken.end()));
  ModelsCliRun bad = ringserve("models add tiny v1.gguf --chat-template broken.jinja" + flags());
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("--chat-template"), std::string::npos) << bad.err;
  ModelsCliRun missing = ringserve("models add tiny v1.gguf --chat-template nowhere.jinja" + flags());
  EXPECT_EQ(missing.exit_code, 1);

  ModelsCliRun table = ringserve("models list tiny" + flags(), /*json=*/false);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("CHAT"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("unavailable: the GGUF has no tokenizer.chat_template"), std::string::npos) << table.out;
  auto lines = list();
  ASSERT_EQ(lines.size(), 2u);  // the refused adds left nothing behind
  EXPECT_EQ(lines[1]["chat"], "file");
}

TEST_F(ModelsCliTest, AFileThatIsNotAValidGgufIsRefused) {
  auto bytes = gguf_bytes(GgmlType::kF16, 1);
  bytes.resize(bytes.size() - 100);  // the last tensor's data cut short
  write_file("truncated.gguf", bytes);
  ModelsCliRun t = ringserve("models add tiny truncated.gguf" + flags());
  EXPECT_EQ(t.exit_code, 1);
  EXPECT_EQ(t.err.rfind("error: invalid_argument: not a valid GGUF", 0), 0u) << t.err;
  ASSERT_EQ(t.lines.size(), 1u);
  EXPECT_EQ(t.lines[0]["error"], "invalid_argument");

  write_file("text.gguf", std::vector<uint8_t>(200, 'x'));
  ModelsCliRun x = ringserve("models add tiny text.gguf" + flags(), /*json=*/false);
  EXPECT_EQ(x.exit_code, 1);
  EXPECT_EQ(x.err.rfind("error: invalid_argument: not a valid GGUF", 0), 0u) << x.err;
  EXPECT_EQ(std::count(x.err.begin(), x.err.end(), '\n'), 1) << x.err;

  write_file("noarch.gguf", gguf_bytes(GgmlType::kF16, 1, ""));
  ModelsCliRun na = ringserve("models add tiny noarch.gguf" + flags(), /*json=*/false);
  EXPECT_EQ(na.exit_code, 1);
  EXPECT_NE(na.err.find("general.architecture"), std::string::npos) << na.err;

  ModelsCliRun missing = ringserve("models add tiny nowhere.gguf" + flags(), /*json=*/false);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err.rfind("error: not_found: ", 0), 0u) << missing.err;

  EXPECT_TRUE(list().empty());  // nothing was registered
  model_file("ok.gguf");
  ModelsCliRun bad_name = ringserve("models add 'bad:name' ok.gguf" + flags(), /*json=*/false);
  EXPECT_EQ(bad_name.exit_code, 1);
  EXPECT_EQ(bad_name.err.rfind("error: invalid_argument: ", 0), 0u) << bad_name.err;
}

TEST_F(ModelsCliTest, ActivateCanaryRollbackAndRemove) {
  model_file("a.gguf");
  for (int i = 0; i < 3; ++i) ASSERT_EQ(ringserve("models add tiny a.gguf" + flags()).exit_code, 0);

  ModelsCliRun act = ringserve("models activate tiny 1" + flags());
  ASSERT_EQ(act.exit_code, 0) << act.err;
  ASSERT_EQ(act.lines.size(), 1u);
  EXPECT_EQ(act.lines[0]["version"], 1);
  EXPECT_EQ(act.lines[0]["active"], true);
  ASSERT_EQ(ringserve("models activate tiny 2" + flags(), false).out, "tiny@2 active\n");
  auto lines = list(" tiny");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["active"], false);
  EXPECT_EQ(lines[1]["active"], true);

  ModelsCliRun rm_active = ringserve("models rm tiny 2" + flags());
  EXPECT_EQ(rm_active.exit_code, 1);
  EXPECT_NE(rm_active.err.find("refused"), std::string::npos) << rm_active.err;

  ModelsCliRun back = ringserve("models rollback tiny" + flags());
  ASSERT_EQ(back.exit_code, 0) << back.err;
  ASSERT_EQ(back.lines.size(), 1u);
  EXPECT_EQ(back.lines[0]["version"], 1);
  EXPECT_EQ(ringserve("models rollback tiny" + flags(), false).exit_code, 1);  // nothing before v1

  // No broker to ask whether v2 is loaded: a note, and the removal goes on.
  ModelsCliRun rm2 = ringserve("models rm tiny 2" + flags(kNoBroker), false);
  ASSERT_EQ(rm2.exit_code, 0) << rm2.err;
  EXPECT_EQ(rm2.out, "removed tiny@2\n");
  EXPECT_EQ(rm2.err.rfind("note: cannot ask the broker", 0), 0u) << rm2.err;

  ModelsCliRun canary = ringserve("models activate tiny 3 --canary 25" + flags());
  ASSERT_EQ(canary.exit_code, 0) << canary.err;
  EXPECT_EQ(canary.lines[0]["active"], false);
  EXPECT_EQ(canary.lines[0]["canary_percent"], 25);
  lines = list();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["active"], true);
  EXPECT_EQ(lines[1]["canary_percent"], 25);
  EXPECT_EQ(ringserve("models rm tiny 3" + flags()).exit_code, 1);  // the canary
  ModelsCliRun withdraw = ringserve("models rollback tiny" + flags());
  ASSERT_EQ(withdraw.exit_code, 0) << withdraw.err;
  EXPECT_EQ(withdraw.lines[0]["version"], 1);
  EXPECT_EQ(list()[1]["canary_percent"], 0);
  EXPECT_EQ(ringserve("models rm tiny 3" + flags()).exit_code, 0);

  ModelsCliRun nf = ringserve("models rm tiny 9" + flags());
  EXPECT_EQ(nf.exit_code, 1);
  EXPECT_EQ(nf.err.rfind("error: not_found: ", 0), 0u) << nf.err;
  ASSERT_EQ(nf.lines.size(), 1u);
  EXPECT_EQ(nf.lines[0]["error"], "not_found");
  EXPECT_EQ(ringserve("models activate nope 1" + flags()).exit_code, 1);
  EXPECT_EQ(ringserve("models list nope" + flags()).exit_code, 1);
  EXPECT_EQ(ringserve("models activate tiny 0" + flags()).exit_code, 2);
  EXPECT_EQ(ringserve("models activate tiny 1 --canary 101" + flags()).exit_code, 2);
  EXPECT_EQ(ringserve("models" + flags()).exit_code, 2);
}

TEST_F(ModelsCliTest, LoadedOnComesFromTheBrokersWorkersReply) {
  ScriptedBroker broker({
      sc::DeviceStatus{.worker = "w1", .device = 0, .models = {"tiny@1", "plain"}},
      sc::DeviceStatus{.worker = "w2", .device = 1, .models = {"tiny@1", "tiny@2"}},
  });
  ASSERT_FALSE(broker.endpoint().empty());
  model_file("a.gguf");
  for (int i = 0; i < 3; ++i) ASSERT_EQ(ringserve("models add tiny a.gguf" + flags()).exit_code, 0);

  ModelsCliRun r = ringserve("models list" + flags(broker.endpoint()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  ASSERT_EQ(r.lines.size(), 3u);
  EXPECT_EQ(r.lines[0]["loaded_on"], nlohmann::ordered_json({"w1/0", "w2/1"}));
  EXPECT_EQ(r.lines[1]["loaded_on"], nlohmann::ordered_json({"w2/1"}));
  EXPECT_EQ(r.lines[2]["loaded_on"], nlohmann::ordered_json::array());
  ModelsCliRun human = ringserve("models list" + flags(broker.endpoint()), false);
  EXPECT_NE(human.out.find("w1/0,w2/1"), std::string::npos) << human.out;

  // In use: refused while a device holds it, even though it is neither active nor canary.
  ModelsCliRun rm = ringserve("models rm tiny 2" + flags(broker.endpoint()));
  EXPECT_EQ(rm.exit_code, 1);
  EXPECT_NE(rm.err.find("in use (loaded on w2/1)"), std::string::npos) << rm.err;
  EXPECT_EQ(list().size(), 3u);
  ModelsCliRun rm3 = ringserve("models rm tiny 3" + flags(broker.endpoint()));
  EXPECT_EQ(rm3.exit_code, 0) << rm3.err;
  EXPECT_GE(broker.answered(), 4);
}

TEST_F(ModelsCliTest, NoBrokerLeavesLoadedOnEmptyWithANote) {
  model_file("a.gguf");
  ASSERT_EQ(ringserve("models add tiny a.gguf --activate" + flags()).exit_code, 0);
  ModelsCliRun r = ringserve("models list" + flags(kNoBroker));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.lines.size(), 1u);
  expect_version_keys(r.lines[0]);
  EXPECT_EQ(r.lines[0]["loaded_on"], nlohmann::ordered_json::array());
  EXPECT_EQ(r.err.rfind("note: no broker answered", 0), 0u) << r.err;
}

TEST_F(ModelsCliTest, RedisAddressFromFlagEnvOrVarFile) {
  model_file("a.gguf");
  const std::string broker = " --broker " + idle_broker_.endpoint() + " --timeout-ms 300";
  const std::string no_env = "env -u RINGSERVE_REDIS ";
  ModelsCliRun env = ringserve("models add tiny a.gguf" + broker, true, "RINGSERVE_REDIS=" + redis_address() + " ");
  ASSERT_EQ(env.exit_code, 0) << env.err;

  ModelsCliRun none = ringserve("models list" + broker, true, no_env);
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("no redis address"), std::string::npos) << none.err;

  fs::create_directories(dir_ / "var");
  std::ofstream(dir_ / "var" / "redis") << redis_address() << "\n";
  ModelsCliRun file = ringserve("models list" + broker, true, no_env);
  ASSERT_EQ(file.exit_code, 0) << file.err;
  ASSERT_EQ(file.lines.size(), 1u);
  EXPECT_EQ(file.lines[0]["name"], "tiny");

  ModelsCliRun down = ringserve("models list --redis 127.0.0.1:1" + broker, false);
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_EQ(down.err.rfind("error: unavailable: redis unreachable", 0), 0u) << down.err;
  ModelsCliRun bad = ringserve("models list --redis nonsense" + broker, false);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.err.rfind("error: invalid_argument: bad redis address", 0), 0u) << bad.err;
}

}  // namespace
}  // namespace rs::client::testing
