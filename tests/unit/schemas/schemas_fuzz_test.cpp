// Mutated, truncated and random bodies and frames: always a typed error or a valid
// message, never an exception or a crash (run under ASan in CI).
#include <gtest/gtest.h>

#include <random>

#include "rs/schemas/codec.h"
#include "rs/schemas/frames.h"

namespace rs::schemas {
namespace {

std::vector<Frames> seeds() {
  SubmitRequest s;
  s.model = "m";
  s.prompt = "the prompt";
  s.stop = {"x"};
  JobRecord j;
  j.job_id = "j";
  return {make_frames(s), make_frames(TokenBatch{{TokenEntry{"j", 1, 2, 3, "t"}}}),
          make_frames(WorkerReady{"w", {DeviceInfo{0, {"m"}, 1, 1}}, 1000}), make_frames(Done{j}),
          make_frames(Dispatch{"j", 1, 0, s}), make_frames(WorkersReply{1, {DeviceStatus{"w", 0, {"m"}, 1, 2, 3, 4}}})};
}

void expect_no_crash(const Frames& f) {
  auto r = parse_frames(f);
  if (!r.ok()) {
    EXPECT_NE(wire_error_of(r.status()), ErrorCode::kOk);
    EXPECT_NE(wire_error_of(r.status()), ErrorCode::kInternal) << r.status().to_string();
  } else {
    // Anything that decodes must re-encode and decode to the same message.
    auto again = parse_frames(to_frames(*r));
    ASSERT_TRUE(again.ok()) << again.status().to_string();
    EXPECT_TRUE(*again == *r);
  }
}

TEST(Fuzz, MutatedBodies) {
  std::mt19937 rng(12345);
  for (const Frames& seed : seeds()) {
    for (int iter = 0; iter < 1500; ++iter) {
      Frames f = seed;
      std::string& body = f[2];
      int n_mut = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < n_mut && !body.empty(); ++k) {
        size_t pos = rng() % body.size();
        switch (rng() % 4) {
          case 0: body[pos] = static_cast<char>(rng()); break;
          case 1: body[pos] ^= static_cast<char>(1u << (rng() % 8)); break;
          case 2: body.insert(pos, 1, static_cast<char>(rng())); break;
          case 3: body.erase(pos, 1); break;
        }
      }
      expect_no_crash(f);
    }
  }
}

TEST(Fuzz, TruncatedBodies) {
  for (const Frames& seed : seeds()) {
    for (size_t n = 0; n < seed[2].size(); ++n) {
      Frames f = seed;
      f[2].resize(n);
      auto r = parse_frames(f);
      EXPECT_FALSE(r.ok()) << "prefix " << n;
    }
  }
}

TEST(Fuzz, RandomGarbage) {
  std::mt19937 rng(777);
  std::vector<uint8_t> commands;
  for (int b = 0; b < 256; ++b) {
    if (parse_command(static_cast<uint8_t>(b))) commands.push_back(static_cast<uint8_t>(b));
  }
  for (int iter = 0; iter < 4000; ++iter) {
    Frames f{header_frame(), std::string(1, static_cast<char>(commands[rng() % commands.size()])), {}};
    size_t n = rng() % 64;
    for (size_t i = 0; i < n; ++i) f[2].push_back(static_cast<char>(rng()));
    if (iter % 2 == 0 && !f[2].empty()) f[2][0] = static_cast<char>(0x80 | (rng() % 16));  // fixmap
    expect_no_crash(f);
  }
  // Random frame counts and headers.
  for (int iter = 0; iter < 500; ++iter) {
    Frames f(rng() % 5);
    for (auto& s : f) {
      size_t n = rng() % 6;
      for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(rng()));
    }
    EXPECT_FALSE(parse_frames(f).ok());
  }
}

}  // namespace
}  // namespace rs::schemas
