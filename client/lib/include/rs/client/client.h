// Client: one DEALER connection to the broker's client endpoint. It submits jobs,
// streams their tokens, subscribes to other jobs from a sequence number, asks status,
// cancels and lists workers. Messages for many jobs interleave on the one socket: the
// client demultiplexes them by request_id and job id, buffering what arrives for a job
// nobody is waiting on yet. Not thread-safe: one thread owns a Client.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rs/core/result.h"
#include "rs/core/status.h"
#include "rs/schemas/messages.h"

namespace rs::client {

// CURVE credentials (Z85 keys; docs/SECURITY.md): all empty = plain ZeroMQ.
struct CurveCredentials {
  std::string server_public_key;  // the broker's
  std::string public_key;         // this client's key pair
  std::string secret_key;
  bool enabled() const { return !server_public_key.empty(); }
};

struct ClientOptions {
  std::string endpoint;              // the broker's client endpoint, e.g. tcp://127.0.0.1:5555
  CurveCredentials curve;            // a CURVE broker: this client's key and the broker's
  int request_timeout_ms = 5000;     // submit / status / cancel / workers / ping replies
  // wait(): PINGs the broker while it waits (every liveness_ms / 5, 100 ms..1 s) and fails
  // with kUnavailable "broker at <endpoint> not answering for N s" once nothing at all came
  // from it for liveness_ms. A broker back within the window (restarted on the same
  // endpoint: the socket reconnected) gets the job's subscription again from the first seq
  // not yet delivered, so the wait goes on with no gap and no duplicate. 0: no check.
  int liveness_ms = 0;
  schemas::Limits limits;            // applied to everything received
};

// Errors: a Status built with schemas::wire_error() so schemas::wire_error_of() gives the
// broker's ErrorCode (queue_full, unknown_model, prompt_too_long, not_found, ...);
// a broker that does not answer in time -> kUnavailable "broker unreachable at <endpoint>".

// Called once per token, in sequence order, with no gap and no duplicate.
using TokenCallback = std::function<void(const schemas::TokenEntry& entry)>;

class Client {
 public:
  // Creates the socket and connects (ZeroMQ connects lazily: an absent broker shows up
  // as a timeout on the first request; use ping() to check).
  static Result<std::unique_ptr<Client>> connect(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Round trip to the broker; the broker's clock in Unix ms.
  Result<uint64_t> ping();

  // Submits a job; returns its id once ACCEPTED (Accepted.duplicate for an idempotent
  // resubmission). REJECTED comes back as an error Status (queue_full, unknown_model,...).
  // request.request_id is set by the client. Tokens of a streamed job are buffered until
  // wait() is called for it. A prompt over options.limits.max_prompt_bytes is refused
  // here (prompt_too_long) without being sent.
  Result<schemas::Accepted> submit(schemas::SubmitRequest request);

  // Blocks until the job (submitted or subscribed on this client) is DONE, calling
  // on_token for each token first; returns the final record. timeout_ms < 0: no limit.
  // Each TOKENS entry is delivered once even if the broker resends (seq is checked).
  // With options.liveness_ms > 0, a silent broker ends the wait (see ClientOptions).
  Result<schemas::JobRecord> wait(const std::string& job_id, const TokenCallback& on_token,
                                  int timeout_ms = -1);

  // Subscribes to any job (also one submitted elsewhere) from from_seq; then wait() on it.
  // A finished job replays its tokens and its DONE. Unknown job -> not_found.
  Status subscribe(const std::string& job_id, uint64_t from_seq);

  // The job's record now (live in the broker, else from Redis). Unknown job -> not_found.
  Result<schemas::JobRecord> status(const std::string& job_id);

  // Cancels a job; returns the record at the broker's ack (CANCELLED already if it was
  // queued; a running job ends CANCELLED in its DONE). Unknown/finished -> not_found.
  Result<schemas::JobRecord> cancel(const std::string& job_id);

  // Every device of every live worker, as the broker sees it.
  Result<std::vector<schemas::DeviceStatus>> workers();

  const std::string& endpoint() const;

 private:
  struct Impl;
  struct Liveness;
  explicit Client(std::unique_ptr<Impl> impl);
  Status check_liveness(const std::string& job_id, Liveness& live,
                        std::chrono::steady_clock::time_point& until);
  std::unique_ptr<Impl> impl_;
};

// The broker endpoint for command-line tools: `flag` if not empty, else the
// RINGSERVE_BROKER environment variable, else the contents of ./var/endpoint; an error
// naming all three when none is set.
Result<std::string> resolve_endpoint(const std::string& flag);

// The Redis address ("host:port") for command-line tools: `flag` if not empty, else the
// RINGSERVE_REDIS environment variable, else the contents of ./var/redis (written by
// `ringserve up`); an error naming all three when none is set.
Result<std::string> resolve_redis(const std::string& flag);

// CURVE credentials for command-line tools: --curve-key / --broker-key if given, else
// RINGSERVE_CURVE_KEY / RINGSERVE_BROKER_KEY, else ./var/keys/cli.key with
// ./var/keys/broker.pub when both exist (written by `ringserve up`); else none (plain).
// A key file that cannot be read or parsed is an error.
Result<CurveCredentials> resolve_curve(const std::string& key_flag, const std::string& broker_key_flag);

}  // namespace rs::client
