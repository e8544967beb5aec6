// AsyncClient: one DEALER connection to the broker for an event loop that cannot block
// (the HTTP gateway's broker thread). Requests are sent without waiting and return the
// request_id their reply will carry; replies, TOKENS and DONE come back one at a time from
// receive(). It keeps no per-job state: the caller demultiplexes by request_id and job id.
// One thread owns it; only the Waker it hands out may be used from one other thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "rs/client/client.h"
#include "rs/core/result.h"
#include "rs/core/status.h"
#include "rs/schemas/frames.h"
#include "rs/schemas/messages.h"

namespace rs::client {

class AsyncClient {
 public:
  // Interrupts wait() from one other thread (non-blocking; wakes coalesce).
  class Waker {
   public:
    virtual ~Waker() = default;
    virtual void wake() = 0;
  };

  static Result<std::unique_ptr<AsyncClient>> connect(ClientOptions options);
  ~AsyncClient();
  AsyncClient(const AsyncClient&) = delete;
  AsyncClient& operator=(const AsyncClient&) = delete;

  // Each sends one request and returns its request_id. No link to the broker (or a full
  // send queue) is kUnavailable at once: nothing waits, and nothing is queued for a broker
  // that comes back later; nothing here blocks.
  Result<uint64_t> submit(schemas::SubmitRequest request);
  Result<uint64_t> subscribe(const std::string& job_id, uint64_t from_seq);
  Result<uint64_t> cancel(const std::string& job_id);
  Result<uint64_t> status(const std::string& job_id);
  Result<uint64_t> workers();
  Result<uint64_t> ping();

  // Waits until a message is ready to receive, the waker fires or timeout_ms passes.
  Status wait(long timeout_ms);
  // One decoded broker message if one is queued (replies, TOKENS, DONE); malformed input
  // is counted and skipped. Never blocks.
  Result<std::optional<schemas::Message>> receive();
  uint64_t malformed() const;

  // What happened to the TCP link since the last call (a ZeroMQ socket monitor): `lost`
  // if it went down at least once, `restored` if the latest event was a (re)connection.
  // A broker restarted on the same endpoint forgets this client's subscriptions: restored
  // after lost is the cue to subscribe again.
  // `refused`: the broker refused the security handshake (CURVE: our key is not on its
  // allow-list, or the broker key is wrong). ZeroMQ never retries such a connection, so this
  // client opens a new socket by itself after retry_in_ms (500 ms doubling to 30 s), from a
  // later call of link_change(); `reopened` is that attempt's outcome.
  struct LinkChange {
    bool lost = false;
    bool restored = false;
    bool refused = false;
    int64_t retry_in_ms = 0;
    std::optional<Status> reopened;
  };
  LinkChange link_change();
  // While a reopen is pending: how long until the link_change() call that makes it (so the
  // owner's wait can be short enough); nullopt otherwise.
  std::optional<long> reopen_in_ms() const;
  // True when a send would be taken now: the link is up and its handshake done (a link
  // reported restored may not be writable yet).
  bool writable();
  // Waits up to timeout_ms until writable() (sends fail until then), consuming the link
  // events of that first connection; unavailable if it did not come. Call before handing
  // the client to its loop.
  Status await_link(int timeout_ms);

  // The waker for the one other thread that feeds this client's owner (made once).
  std::unique_ptr<Waker> make_waker();
  const std::string& endpoint() const;

 private:
  struct Impl;
  explicit AsyncClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rs::client
