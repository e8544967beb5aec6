// AsyncClient against an in-process BrokerLoop (real Redis) and a scripted worker: requests
// return their request_id at once, replies and job messages come back one at a time, a
// waker interrupts wait(), and a broker restart on the same endpoint shows as a link lost
// and restored.
#include "rs/client/async_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "client_fixture.h"

namespace rs::client::testing {
namespace {

class AsyncClientTest : public ClientTest {
 protected:
  std::unique_ptr<AsyncClient> connect_async() {
    ClientOptions o;
    o.endpoint = loop_->client_endpoint();
    auto c = AsyncClient::connect(o);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    if (!c.ok()) return nullptr;
    EXPECT_TRUE((*c)->await_link(5000).ok());  // sends fail until the link is up
    return std::move(c).value();
  }
  // Receives until `done(message)` or the deadline; every message goes to `seen`.
  template <typename F>
  static bool receive_until(AsyncClient& c, std::vector<sc::Message>& seen, F done,
                            int timeout_ms = 10000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      EXPECT_TRUE(c.wait(50).ok());
      for (;;) {
        auto m = c.receive();
        EXPECT_TRUE(m.ok());
        if (!m.ok() || !m->has_value()) break;
        seen.push_back(**m);
        if (done(seen.back())) return true;
      }
    }
    return false;
  }
};

TEST_F(AsyncClientTest, ASubmitsRepliesAndTokensComeBackByRequestIdAndJob) {
  start_broker();
  scripted("w1", 2);
  auto c = connect_async();
  auto id = c->submit(request(5));
  ASSERT_TRUE(id.ok());
  auto bad = c->status("j-unknown");
  ASSERT_TRUE(bad.ok());
  EXPECT_NE(*id, *bad);
  std::vector<sc::Message> seen;
  ASSERT_TRUE(receive_until(
      *c, seen, [](const sc::Message& m) { return std::holds_alternative<sc::Done>(m); }));
  std::string job;
  std::vector<uint64_t> seqs;
  bool status_error = false;
  for (const auto& m : seen) {
    if (auto* a = std::get_if<sc::Accepted>(&m)) {
      EXPECT_EQ(a->request_id, *id);
      job = a->job_id;
    } else if (auto* t = std::get_if<sc::TokenBatch>(&m)) {
      for (const auto& e : t->entries) seqs.push_back(e.seq);
    } else if (auto* e = std::get_if<sc::ErrorReply>(&m)) {
      status_error = e->request_id == *bad && e->code == sc::ErrorCode::kNotFound;
    } else if (auto* r = std::get_if<sc::StatusReply>(&m)) {
      ADD_FAILURE() << "STATUS of an unknown job answered " << r->record.job_id;
    }
  }
  EXPECT_FALSE(job.empty());
  EXPECT_EQ(seqs, range(0, 5));
  EXPECT_EQ(std::get<sc::Done>(seen.back()).record.job_id, job);
  if (!status_error) {  // the ERROR may come after DONE
    seen.clear();
    EXPECT_TRUE(receive_until(
        *c, seen, [](const sc::Message& m) { return std::holds_alternative<sc::ErrorReply>(m); }));
  }
}

TEST_F(AsyncClientTest, TheWakerInterruptsAWait) {
  start_broker();
  auto c = connect_async();
  auto waker = c->make_waker();
  ASSERT_NE(waker, nullptr);
  EXPECT_EQ(c->make_waker(), nullptr);  // one waker per client
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    waker->wake();
  });
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(c->wait(10000).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  t.join();
}

TEST_F(AsyncClientTest, ABrokerRestartShowsAsLinkLostThenRestored) {
  start_broker();
  auto c = connect_async();
  ASSERT_TRUE(c->ping().ok());
  std::vector<sc::Message> seen;
  ASSERT_TRUE(receive_until(
      *c, seen, [](const sc::Message& m) { return std::holds_alternative<sc::Pong>(m); }));
  (void)c->link_change();
  const std::string endpoint = loop_->client_endpoint();
  loop_->request_stop();
  thread_.join();
  loop_.reset();
  bool lost = false;
  for (int i = 0; i < 200 && !lost; ++i) {
    (void)c->wait(10);
    lost = c->link_change().lost;
  }
  EXPECT_TRUE(lost);
  broker::BrokerOptions o;
  o.client_endpoint = endpoint;
  EXPECT_FALSE(c->ping().ok());  // no link: refused at once, not queued for later
  start_broker_with(o);
  EXPECT_TRUE(c->await_link(5000).ok());
  seen.clear();
  ASSERT_TRUE(c->ping().ok());
  EXPECT_TRUE(receive_until(
      *c, seen, [](const sc::Message& m) { return std::holds_alternative<sc::Pong>(m); }));
}

}  // namespace
}  // namespace rs::client::testing
