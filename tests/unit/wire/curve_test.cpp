// CURVE key files and sockets: generated pairs are Z85, key files round-trip (0600 with
// the secret), malformed files are refused, and a CURVE DEALER talks to a CURVE ROUTER
// whose ZAP handler admits it (User-Id read from the message) but not with a wrong key.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include "rs/wire/curve.h"
#include "rs/wire/framing.h"
#include "rs/wire/poller.h"
#include "rs/wire/socket.h"

namespace rs::wire {
namespace {

TEST(CurveKeys, GeneratedPairsAreZ85AndKeyFilesRoundTrip) {
  auto pair = generate_curve_keypair();
  ASSERT_TRUE(pair.ok()) << pair.status().to_string();
  EXPECT_TRUE(is_z85_key(pair->public_key));
  EXPECT_TRUE(is_z85_key(pair->secret_key));
  EXPECT_FALSE(is_z85_key("short"));
  EXPECT_FALSE(is_z85_key(std::string(40, '~')));
  CurveKeyFile f{.role = "client", .name = "alice", .tenant = "acme", .keys = *pair};
  auto back = parse_curve_key_file(format_curve_key_file(f));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->name, "alice");
  EXPECT_EQ(back->tenant, "acme");
  EXPECT_EQ(back->keys.secret_key, pair->secret_key);

  const std::string path = (std::filesystem::temp_directory_path() / "rs-curve-test.key").string();
  ASSERT_TRUE(write_private_file(path, format_curve_key_file(f), 0600).ok());
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto read = read_curve_key_file(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->keys.public_key, pair->public_key);
  std::filesystem::remove(path);
  EXPECT_EQ(read_curve_key_file(path).status().code(), StatusCode::kNotFound);
}

TEST(CurveKeys, MalformedFilesAreRefused) {
  EXPECT_FALSE(parse_curve_key_file("public-key = nope\n").ok());
  EXPECT_FALSE(parse_curve_key_file("just words\n").ok());
  EXPECT_FALSE(parse_curve_key_file("colour = blue\n").ok());
  EXPECT_FALSE(parse_curve_key_file("").ok());
}

// A minimal ZAP handler on its own thread: admits `allowed` (32 raw bytes), else 400.
void serve_zap(zmq::context_t& ctx, std::string allowed, int requests) {
  zmq::socket_t zap(ctx, zmq::socket_type::rep);
  zap.bind("inproc://zeromq.zap.01");
  for (int i = 0; i < requests; ++i) {
    Received r = recv_frames(zap, RecvLimits{.max_frames = 16}, IoMode::kBlock);
    if (r.status != RecvStatus::kMessage) return;
    const auto& f = r.envelope.frames;
    const bool ok = f.size() == 7 && f[5] == "CURVE" && f[6] == allowed;
    (void)send_frames(zap, schemas::Frames{"1.0", f.size() > 1 ? f[1] : "", ok ? "200" : "400", "",
                                           ok ? "the-user" : "", ""},
                      IoMode::kBlock);
  }
}

TEST(CurveSockets, AListedClientIsHeardWithItsUserIdAndAnUnlistedOneIsNot) {
  zmq::context_t ctx(1);
  auto server = generate_curve_keypair();
  auto good = generate_curve_keypair();
  auto bad = generate_curve_keypair();
  ASSERT_TRUE(server.ok() && good.ok() && bad.ok());
  uint8_t raw[32];
  ASSERT_NE(zmq_z85_decode(raw, good->public_key.c_str()), nullptr);
  std::thread zap(serve_zap, std::ref(ctx), std::string(reinterpret_cast<char*>(raw), 32), 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the handler binds first

  auto router = make_router(ctx, RouterOptions{.curve_secret_key = server->secret_key, .zap_domain = "test"});
  ASSERT_TRUE(router.ok()) << router.status().to_string();
  auto endpoint = bind_endpoint(*router, "tcp://127.0.0.1:*");
  ASSERT_TRUE(endpoint.ok());
  auto make = [&](const CurveKeyPair& own) {
    auto d = make_dealer(ctx, DealerOptions{.curve = {.server_public_key = server->public_key, .own = own}});
    EXPECT_TRUE(d.ok());
    EXPECT_TRUE(connect_endpoint(*d, *endpoint).ok());
    return std::move(d).value();
  };
  zmq::socket_t listed = make(*good);
  zmq::socket_t unlisted = make(*bad);
  ASSERT_EQ(send_frames(listed, schemas::Frames{"hello"}, IoMode::kBlock), SendStatus::kSent);
  (void)send_frames(unlisted, schemas::Frames{"intruder"}, IoMode::kDontWait);
  Poller poller;
  poller.add(*router);
  auto ready = poller.poll(5000);
  ASSERT_TRUE(ready.ok() && *ready > 0);
  Received r = recv_frames(*router, RecvLimits{.n_routing = 1, .read_user_id = true});
  ASSERT_EQ(r.status, RecvStatus::kMessage);
  EXPECT_EQ(r.envelope.frames.front(), "hello");
  EXPECT_EQ(r.user_id, "the-user");
  Poller again;
  again.add(*router);
  auto more = again.poll(500);
  EXPECT_TRUE(more.ok() && *more == 0) << "the unlisted client was heard";
  listed.close();
  unlisted.close();
  router->close();
  ctx.shutdown();
  zap.join();
}

}  // namespace
}  // namespace rs::wire
