// One ChatTemplate is shared by every device of a worker (one Model): renders from several
// engine threads at once must give the single-threaded result (the tsan preset runs this).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "chat_test_util.h"
#include "rs/engine/chat_template.h"
#include "test_paths.h"

namespace rs::engine {
namespace {

TEST(JinjaThreads, ConcurrentRendersOfOneTemplateAgree) {
  const std::string path = rs::test::fixture_path("chat/openai-gpt-oss-120b.json");
  RS_REQUIRE_FILE(path);
  const auto fixture = chat_test::load_ordered(path);
  const std::string source =
      chat_test::read_file(rs::test::fixture_path("chat/openai-gpt-oss-120b.jinja"));
  auto tmpl = ChatTemplate::parse(source, "<s>", "</s>");
  ASSERT_TRUE(tmpl.ok()) << tmpl.status().to_string();
  std::vector<ChatInput> inputs;
  std::vector<std::string> expected;
  for (const auto& c : fixture["cases"]) {
    inputs.push_back(chat_test::input_of(c));
    auto text = (*tmpl)->render(inputs.back());
    expected.push_back(text.ok() ? *text : "error: " + text.status().message());
  }
  ASSERT_FALSE(inputs.empty());
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const size_t k = static_cast<size_t>(t + i) % inputs.size();
        auto text = (*tmpl)->render(inputs[k]);
        const std::string got = text.ok() ? *text : "error: " + text.status().message();
        if (got != expected[k]) mismatches.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace rs::engine
