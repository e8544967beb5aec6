// Pool: the processes `ringserve up` runs, supervises and stops: a private redis-server
// (AOF on, data in VAR/redis-data, so the next `up` in the same dir brings back every
// unfinished job), a broker and N workers, the HTTP gateway (and, once, `ringserve-model
// synth` for the default model), with their logs, VAR/pids (the children, for the next `up`
// after a kill -9), the endpoint file, the redis file (host:port, for `ringserve models`),
// the gateway's URL (var/http) and an API key (var/api-key). Redis runs with VAR/redis.acl
// (one ACL user per role, none for a client that does not log in; passwords in VAR/keys, redis_credentials.h). Workers load one model file
// (--model), or serve names from the registry (--serve). Once up, a child that dies is
// started again with backoff (up_supervisor.h). One thread (the command's) drives it; a
// signal handler only sets the stop flag it polls.
#pragma once

#include <csignal>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "process.h"
#include "up_leftovers.h"
#include "up_supervisor.h"
#include "rs/core/result.h"
#include "rs/core/status.h"
#include "rs/store/redis_acl.h"

namespace rs::cli {

struct UpOptions {
  int workers = 1;
  int devices = 1;         // per worker
  std::string model;       // "" -> var/models/synth.gguf, made once
  std::string model_name;  // "" -> what the workers report
  std::vector<std::string> serve;  // registry mode: names the workers serve (no --model)
  std::string chat_template;       // file mode: a Jinja file replacing the model's template
  std::string var_dir = "var";
  int redis_port = 0;                    // 0 -> a free loopback port
  std::string redis_fsync = "everysec";  // the AOF's appendfsync: always | everysec | no
  int threads = 0;                       // per worker; 0 -> the worker's default
  std::vector<std::string> worker_args;  // passed through: "--max-batch-size", "8", ...
  int start_timeout_ms = 60000;          // for each stage of start()
  int grace_ms = 5000;                   // SIGTERM -> SIGKILL
  bool quiet = false;                    // no progress lines (--json)
  int http_port = 0;                     // the gateway's; 0 -> a free loopback port
  bool gateway = true;                   // false: no HTTP gateway (--no-gateway)
  std::string gateway_tls_cert;          // both or neither: the gateway serves HTTPS
  std::string gateway_tls_key;
  BackoffPolicy restart_backoff;         // restarts of children that die once up
  std::string log_format = "text";       // the children's --log-format: text | json
  bool insecure = false;                 // plain ZeroMQ (no CURVE keys under var/keys)
};

struct PoolInfo {
  std::string client_endpoint;
  std::string worker_endpoint;
  std::string redis;  // "127.0.0.1:port"
  int workers = 0;
  int devices = 0;    // in total, as the broker lists them
  std::string model;  // name
  std::string model_path;
  std::string endpoint_file;
  std::string redis_file;            // holds `redis` while the pool is up
  std::vector<std::string> serve;    // registry mode: the names served
  std::string http_url;              // the gateway's base URL ("" without a gateway)
  std::string http_file;             // var/http: http_url
  std::string http_tls_cert;         // the gateway's certificate under TLS ("" for plain HTTP)
  std::string api_key_file;          // var/api-key: a key of tenant "local" (mode 0600)
  std::string metrics_file;          // var/metrics: "NAME URL" per process (docs/METRICS.md)
  std::string targets_file;          // var/prometheus/targets.json: file-based discovery
  std::vector<std::pair<std::string, int>> metrics_ports;  // process name -> metrics port
  std::string keys_dir;  // var/keys: CURVE keys and allow-lists ("" with --insecure)
};

class Pool {
 public:
  Pool(UpOptions options, const volatile std::sig_atomic_t* stop_flag);
  ~Pool();  // stop()
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Starts everything and waits until the broker lists workers x devices; writes the
  // endpoint file (the redis file as soon as redis answers). On error the caller still
  // calls stop() (the destructor does too).
  Status start();
  // While up, every turn: a child that died is reported on stderr and started again (same
  // ports, log appended) after its backoff. Never blocks.
  void supervise();
  // The gateway, then the workers (SIGTERM, grace, SIGKILL), then the broker, then redis;
  // removes the endpoint, redis, http, api-key and pids files. Idempotent.
  void stop();

  const PoolInfo& info() const { return info_; }

 private:
  Status prepare_dirs();
  Status lock_var_dir();
  void clear_stale_state();
  void watch_children();
  void record(const ChildProcess& child);
  Status ensure_model();
  Status start_redis();
  Status start_broker();
  Status start_workers();
  Status wait_devices();
  Status write_endpoint_file();
  Status start_gateway();
  // The gateway's arguments for a port (its first start and its restarts).
  Status write_api_key();
  // A free loopback port for the metrics of process `name` (recorded for var/metrics).
  Result<int> metrics_port(const std::string& name);
  int metrics_port_of(const std::string& name) const;
  Status write_metrics_files();
  // up_keys.cpp: CURVE under var/keys (made once, kept across restarts of `up`).
  Status prepare_keys();
  std::vector<std::string> broker_security_args() const;  // --curve-key ... or --insecure
  std::vector<std::string> peer_key_args(const std::string& name) const;  // {} if insecure
  std::vector<std::string> worker_args() const;
  std::vector<std::string> redis_flags(store::RedisRole role) const;
  std::vector<std::string> broker_args(const std::string& client, const std::string& worker, int metrics) const;
  std::vector<std::string> gateway_args(int http_port, int metrics) const;
  Result<std::unique_ptr<ChildProcess>> spawn(const std::string& name, const std::string& program,
                                              std::vector<std::string> args);
  // Polls `ready` until true, failing when `child` dies, time runs out or stop is asked.
  Status wait_until(ChildProcess& child, const std::string& what,
                    const std::function<bool()>& ready);
  Status child_failed(ChildProcess& child, const std::string& what) const;
  bool stop_requested() const { return stop_flag_ != nullptr && *stop_flag_ != 0; }
  void progress(const std::string& line) const;
  std::string log_path(const std::string& name) const;

  UpOptions options_;
  const volatile std::sig_atomic_t* stop_flag_;
  PoolInfo info_;
  std::string var_;  // absolute
  int lock_fd_ = -1;
  bool locked_ = false;  // this pool owns the var dir (and so its endpoint file)
  int redis_port_ = 0;
  std::unique_ptr<ChildProcess> redis_;
  std::unique_ptr<ChildProcess> broker_;
  std::unique_ptr<ChildProcess> gateway_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
  Supervisor supervisor_;
  std::vector<RecordedChild> recorded_;  // what VAR/pids lists
  bool stopped_ = false;
};

}  // namespace rs::cli
