// rs_client's liveness in wait(), against scripted ROUTERs playing the broker: a broker
// that goes silent ends the wait with "not answering" (unavailable); one that answers
// PINGs keeps a slow job waiting; one that is replaced on the same endpoint (a restart)
// gets SUBSCRIBE from the first undelivered seq, and the wait ends with every token once.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <zmq.hpp>

#include "rs/client/client.h"
#include "rs/schemas/errors.h"
#include "rs/schemas/frames.h"
#include "rs/wire/framing.h"
#include "rs/wire/poller.h"
#include "rs/wire/socket.h"

namespace rs::client::liveness {

namespace sc = rs::schemas;
using LiveClock = std::chrono::steady_clock;

// One scripted broker on a ROUTER: `on_message` gets each parsed message with a reply
// function, until `stop` is set or run_ms passed.
using Reply = std::function<void(const sc::Frames&)>;
using Handler = std::function<void(const sc::Message&, const Reply&)>;

void serve(zmq::socket_t& router, const std::atomic<bool>& stop, int run_ms,
           const Handler& on_message) {
  const auto deadline = LiveClock::now() + std::chrono::milliseconds(run_ms);
  wire::Poller poller;
  poller.add(router);
  while (!stop && LiveClock::now() < deadline) {
    auto ready = poller.poll(20);
    if (!ready.ok() || *ready == 0) continue;
    wire::Received r = wire::recv_frames(router, wire::RecvLimits{.n_routing = 1});
    if (r.status != wire::RecvStatus::kMessage) continue;
    auto m = sc::parse_frames(r.envelope.frames);
    if (!m.ok()) continue;
    Reply reply = [&](const sc::Frames& f) {
      wire::send_frames(router, r.envelope.routing, f, wire::IoMode::kBlock);
    };
    on_message(*m, reply);
  }
}

sc::TokenBatch tokens(std::initializer_list<uint64_t> seqs) {
  sc::TokenBatch b;
  for (uint64_t s : seqs) {
    sc::TokenEntry e;
    e.job_id = "j1";
    e.seq = s;
    e.text = "t" + std::to_string(s);
    b.entries.push_back(e);
  }
  return b;
}

sc::Done done() {
  sc::Done d;
  d.record.job_id = "j1";
  d.record.state = sc::JobState::kSucceeded;
  return d;
}

sc::SubmitRequest request() {
  sc::SubmitRequest r;
  r.model = std::string(1, 'm');
  r.prompt = std::string(1, 'p');
  return r;
}

std::unique_ptr<Client> connect_to(const std::string& endpoint, int liveness_ms) {
  ClientOptions o;
  o.endpoint = endpoint;
  o.request_timeout_ms = 5000;
  o.liveness_ms = liveness_ms;
  auto c = Client::connect(o);
  return c.ok() ? std::move(c).value() : nullptr;
}

TEST(ClientLiveness, SilentBrokerEndsTheWait) {
  zmq::context_t ctx(1);
  auto router = wire::make_router(ctx);
  ASSERT_TRUE(router.ok());
  auto endpoint = wire::bind_endpoint(*router, "tcp://127.0.0.1:*");
  ASSERT_TRUE(endpoint.ok());
  std::atomic<bool> stop{false};
  std::thread fake([&] {  // accepts, then never answers anything (PINGs included)
    serve(*router, stop, 20000, [](const sc::Message& m, const Reply& reply) {
      if (const auto* s = std::get_if<sc::SubmitRequest>(&m)) {
        reply(sc::make_frames(sc::Accepted{.request_id = s->request_id, .job_id = "j1"}));
      }
    });
  });
  auto c = connect_to(*endpoint, 500);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->submit(request()).ok());
  auto record = c->wait("j1", nullptr, 20000);
  stop = true;
  fake.join();
  ASSERT_FALSE(record.ok());
  EXPECT_EQ(sc::wire_error_of(record.status()), sc::ErrorCode::kUnavailable);
  EXPECT_NE(record.status().message().find("broker at " + *endpoint + " not answering for 500 ms"),
            std::string::npos)
      << record.status().to_string();
}

TEST(ClientLiveness, BrokerAnsweringPingsKeepsASlowJobWaiting) {
  zmq::context_t ctx(1);
  auto router = wire::make_router(ctx);
  ASSERT_TRUE(router.ok());
  auto endpoint = wire::bind_endpoint(*router, "tcp://127.0.0.1:*");
  ASSERT_TRUE(endpoint.ok());
  std::atomic<bool> stop{false};
  std::thread fake([&] {  // DONE only after 8 pings: several liveness windows later
    int pings = 0;
    serve(*router, stop, 20000, [&](const sc::Message& m, const Reply& reply) {
      if (const auto* s = std::get_if<sc::SubmitRequest>(&m)) {
        reply(sc::make_frames(sc::Accepted{.request_id = s->request_id, .job_id = "j1"}));
      } else if (const auto* p = std::get_if<sc::Ping>(&m)) {
        reply(sc::make_frames(sc::Pong{.request_id = p->request_id, .broker_time_ms = 1}));
        if (++pings == 8) reply(sc::make_frames(done()));
      }
    });
  });
  auto c = connect_to(*endpoint, 300);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->submit(request()).ok());
  auto record = c->wait("j1", nullptr, 20000);
  stop = true;
  fake.join();
  ASSERT_TRUE(record.ok()) << record.status().to_string();
  EXPECT_EQ(record->state, sc::JobState::kSucceeded);
}

// The first broker sends seqs 0 and 1 and dies; a second one on the same endpoint must
// see SUBSCRIBE from 2, and sends 1 (a duplicate), 2, 3 and DONE.
TEST(ClientLiveness, ReplacedBrokerGetsTheSubscriptionAgainFromTheNextSeq) {
  zmq::context_t ctx(1);
  auto first = wire::make_router(ctx);
  ASSERT_TRUE(first.ok());
  auto endpoint = wire::bind_endpoint(*first, "tcp://127.0.0.1:*");
  ASSERT_TRUE(endpoint.ok());
  std::atomic<bool> stop{false};
  std::atomic<bool> first_done{false};
  std::atomic<int64_t> subscribed_from{-1};
  std::thread fake([&] {
    serve(*first, first_done, 20000, [&](const sc::Message& m, const Reply& reply) {
      if (const auto* s = std::get_if<sc::SubmitRequest>(&m)) {
        reply(sc::make_frames(sc::Accepted{.request_id = s->request_id, .job_id = "j1"}));
        reply(sc::make_frames(tokens({0, 1})));
        first_done = true;
      }
    });
    first->close();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the client notices
    auto second = wire::make_router(ctx);
    if (!second.ok()) return;
    for (int i = 0; i < 100 && !wire::bind_endpoint(*second, *endpoint).ok(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    serve(*second, stop, 20000, [&](const sc::Message& m, const Reply& reply) {
      if (const auto* p = std::get_if<sc::Ping>(&m)) {
        reply(sc::make_frames(sc::Pong{.request_id = p->request_id, .broker_time_ms = 1}));
      } else if (const auto* s = std::get_if<sc::SubscribeRequest>(&m)) {
        subscribed_from = static_cast<int64_t>(s->from_seq);
        reply(sc::make_frames(tokens({1, 2, 3})));
        reply(sc::make_frames(done()));
      }
    });
  });
  auto c = connect_to(*endpoint, 10000);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->submit(request()).ok());
  std::vector<uint64_t> seqs;
  auto record = c->wait(
      "j1", [&](const sc::TokenEntry& e) { seqs.push_back(e.seq); }, 20000);
  stop = true;
  fake.join();
  ASSERT_TRUE(record.ok()) << record.status().to_string();
  EXPECT_EQ(subscribed_from.load(), 2);
  EXPECT_EQ(seqs, (std::vector<uint64_t>{0, 1, 2, 3}));
}

}  // namespace rs::client::liveness
