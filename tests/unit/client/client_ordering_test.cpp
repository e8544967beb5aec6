// rs_client against a scripted ROUTER playing a misbehaving broker: duplicate and
// out-of-order TOKENS, a heartbeat, garbage frames and stale replies must not reach the
// caller; tokens come out once each, in seq order.
#include <gtest/gtest.h>

#include <thread>
#include <zmq.hpp>

#include "rs/client/client.h"
#include "rs/schemas/frames.h"
#include "rs/wire/framing.h"
#include "rs/wire/poller.h"
#include "rs/wire/socket.h"

namespace rs::client {
namespace {

namespace sc = rs::schemas;

sc::TokenEntry entry(uint64_t seq) {
  sc::TokenEntry e;
  e.job_id = "j1";
  e.seq = seq;
  e.token = static_cast<int32_t>(seq);
  e.text = std::string("t").append(std::to_string(seq));
  return e;
}

sc::TokenBatch batch(std::initializer_list<uint64_t> seqs) {
  sc::TokenBatch b;
  for (uint64_t s : seqs) b.entries.push_back(entry(s));
  return b;
}

sc::SubmitRequest request() {
  sc::SubmitRequest r;
  r.model = std::string(1, 'm');  // not = "m": a GCC 12 -Wrestrict false positive
  r.prompt = std::string(1, 'p');
  return r;
}

TEST(ClientOrdering, DropsDuplicatesAndReordersAheadOfOrderEntries) {
  zmq::context_t ctx(1);
  auto router = wire::make_router(ctx);
  ASSERT_TRUE(router.ok());
  auto endpoint = wire::bind_endpoint(*router, "tcp://127.0.0.1:*");
  ASSERT_TRUE(endpoint.ok());

  std::thread fake([&] {
    zmq::socket_t& s = *router;
    wire::Poller poller;
    poller.add(s);
    auto ready = poller.poll(5000);
    if (!ready.ok() || *ready == 0) return;
    wire::Received r = wire::recv_frames(s, wire::RecvLimits{.n_routing = 1});
    auto m = sc::parse_frames(r.envelope.frames);
    if (!m.ok()) return;
    const auto* submit = std::get_if<sc::SubmitRequest>(&*m);
    if (submit == nullptr) return;
    auto send = [&](const sc::Frames& f) { wire::send_frames(s, r.envelope.routing, f, wire::IoMode::kBlock); };
    send(sc::make_frames(sc::Pong{.request_id = 999, .broker_time_ms = 1}));  // stale reply
    send(sc::make_frames(sc::Accepted{.request_id = submit->request_id, .job_id = "j1"}));
    send(sc::make_frames(batch({2})));
    send(sc::make_frames(batch({0})));
    send(sc::Frames{"XXXX", "\x13", "garbage"});
    send(sc::make_frames(batch({1, 1, 0})));
    send(sc::make_frames(sc::BrokerHeartbeat{.broker_time_ms = 5}));
    send(sc::make_frames(batch({3, 2, 4})));
    sc::Done done;
    done.record.job_id = "j1";
    done.record.state = sc::JobState::kSucceeded;
    send(sc::make_frames(done));
    send(sc::make_frames(batch({5})));  // after DONE: dropped
  });

  ClientOptions o;
  o.endpoint = *endpoint;
  o.request_timeout_ms = 5000;
  auto c = Client::connect(o);
  ASSERT_TRUE(c.ok());
  sc::SubmitRequest req = request();
  auto a = (*c)->submit(req);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(a->job_id, "j1");
  std::vector<uint64_t> seqs;
  auto record = (*c)->wait("j1", [&](const sc::TokenEntry& e) { seqs.push_back(e.seq); }, 5000);
  fake.join();
  ASSERT_TRUE(record.ok()) << record.status().to_string();
  EXPECT_EQ(record->state, sc::JobState::kSucceeded);
  EXPECT_EQ(seqs, (std::vector<uint64_t>{0, 1, 2, 3, 4}));
}

TEST(ClientOrdering, WaitTimesOutWhenTheJobDoesNotEnd) {
  zmq::context_t ctx(1);
  auto router = wire::make_router(ctx);
  ASSERT_TRUE(router.ok());
  auto endpoint = wire::bind_endpoint(*router, "tcp://127.0.0.1:*");
  ASSERT_TRUE(endpoint.ok());
  std::thread fake([&] {
    wire::Poller poller;
    poller.add(*router);
    auto ready = poller.poll(5000);
    if (!ready.ok() || *ready == 0) return;
    wire::Received r = wire::recv_frames(*router, wire::RecvLimits{.n_routing = 1});
    auto m = sc::parse_frames(r.envelope.frames);
    if (!m.ok() || !std::holds_alternative<sc::SubmitRequest>(*m)) return;
    uint64_t id = std::get<sc::SubmitRequest>(*m).request_id;
    wire::send_frames(*router, r.envelope.routing,
                      sc::make_frames(sc::Accepted{.request_id = id, .job_id = "j1"}), wire::IoMode::kBlock);
  });
  ClientOptions o;
  o.endpoint = *endpoint;
  auto c = Client::connect(o);
  ASSERT_TRUE(c.ok());
  sc::SubmitRequest req = request();
  ASSERT_TRUE((*c)->submit(req).ok());
  fake.join();
  auto record = (*c)->wait("j1", nullptr, 50);
  EXPECT_EQ(sc::wire_error_of(record.status()), sc::ErrorCode::kTimeout);
}

}  // namespace
}  // namespace rs::client
