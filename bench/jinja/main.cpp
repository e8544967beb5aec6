// bench-jinja: chat-template parse and render times for the largest fixture templates
// (shared/fixtures/chat) on the b-system-user and c-multi-turn fixture conversations and a
// 20-turn conversation. Writes a JSON document (--out, default stdout) and one summary line.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "rs/engine/chat_template.h"

#ifndef RS_DEFAULT_SHARED_DIR
#define RS_DEFAULT_SHARED_DIR "../shared"
#endif

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using ojson = nlohmann::ordered_json;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Stats {
  double p50_us, p99_us, mean_us;
};

Stats stats_of(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (double u : us) sum += u;
  auto at = [&](double q) {
    return us[std::min(us.size() - 1, static_cast<size_t>(q * static_cast<double>(us.size())))];
  };
  return {at(0.50), at(0.99), sum / static_cast<double>(us.size())};
}

double micros_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

rs::engine::ChatInput input_of(const ojson& messages) {
  rs::engine::ChatInput in;
  in.messages_json = messages.dump();
  in.add_generation_prompt = true;
  in.now_unix_ms = 1768435200000;
  return in;
}

ojson twenty_turns() {
  ojson m = ojson::array();
  m.push_back({{"role", "system"}, {"content", "You are a helpful assistant."}});
  for (int i = 1; i <= 10; ++i) {
    m.push_back({{"role", "user"},
                 {"content", "Question number " + std::to_string(i) + ": what comes next?"}});
    m.push_back({{"role", "assistant"},
                 {"content", "Answer number " + std::to_string(i) + ", with some detail."}});
  }
  m.push_back({{"role", "user"}, {"content", "Thanks, last one."}});
  return m;
}

// The messages of the fixture case `name` (with add_generation_prompt), or null.
ojson fixture_messages(const ojson& fixture, const std::string& name) {
  for (const auto& c : fixture["cases"]) {
    if (c["name"] == name && c["add_generation_prompt"] == true) return c["messages"];
  }
  return nullptr;
}

ojson bench_template(const fs::path& path, int renders, int parses) {
  std::string source = read_file(path);
  ojson fixture = ojson::parse(read_file(fs::path(path).replace_extension(".json")));
  std::vector<double> parse_us;
  for (int i = 0; i < parses; ++i) {
    auto t0 = Clock::now();
    auto t = rs::engine::ChatTemplate::parse(source, "<s>", "</s>");
    parse_us.push_back(micros_since(t0));
    if (!t.ok()) return {{"template", path.stem().string()}, {"error", t.status().message()}};
  }
  auto tpl = rs::engine::ChatTemplate::parse(source, "<s>", "</s>");
  Stats ps = stats_of(parse_us);
  ojson doc = {{"template", path.stem().string()},
               {"bytes", source.size()},
               {"parse_p50_us", ps.p50_us},
               {"parse_p99_us", ps.p99_us},
               {"conversations", ojson::array()}};
  std::vector<std::pair<std::string, ojson>> convs = {
      {"b-system-user", fixture_messages(fixture, "b-system-user")},
      {"c-multi-turn", fixture_messages(fixture, "c-multi-turn")},
      {"20-turns", twenty_turns()}};
  for (const auto& [name, messages] : convs) {
    if (messages.is_null()) continue;
    rs::engine::ChatInput in = input_of(messages);
    std::vector<double> us;
    size_t bytes = 0;
    std::string error;
    for (int i = 0; i < renders; ++i) {
      auto t0 = Clock::now();
      auto out = (*tpl)->render(in);
      us.push_back(micros_since(t0));
      if (!out.ok()) error = out.status().message();
      bytes = out.ok() ? out->size() : 0;
    }
    Stats s = stats_of(us);
    ojson c = {{"conversation", name},      {"messages", messages.size()},
               {"output_bytes", bytes},     {"render_p50_us", s.p50_us},
               {"render_p99_us", s.p99_us}, {"render_mean_us", s.mean_us}};
    if (!error.empty()) c["error"] = error;
    doc["conversations"].push_back(c);
  }
  return doc;
}

std::string summary(const ojson& templates) {
  std::string s = "bench-jinja:";
  char buf[256];
  for (const auto& t : templates) {
    if (!t.contains("conversations")) continue;
    std::snprintf(buf, sizeof buf, " | %s parse=%.0fus", t["template"].get<std::string>().c_str(),
                  t["parse_p50_us"].get<double>());
    s += buf;
    for (const auto& c : t["conversations"]) {
      std::snprintf(buf, sizeof buf, " %s=%.0f/%.0fus",
                    c["conversation"].get<std::string>().c_str(), c["render_p50_us"].get<double>(),
                    c["render_p99_us"].get<double>());
      s += buf;
    }
  }
  return s + " (render p50/p99)";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench-jinja: chat-template parse and render times"};
  std::string out;
  const char* env = std::getenv("RINGSERVE_FIXTURES");
  std::string fixtures =
      env != nullptr && *env != '\0' ? env : std::string(RS_DEFAULT_SHARED_DIR) + "/fixtures";
  int renders = 2000, parses = 200, count = 5;
  app.add_option("--out", out, "JSON output file (default stdout)");
  app.add_option("--fixtures", fixtures, "Fixtures folder (holding chat/)")->capture_default_str();
  app.add_option("--renders", renders, "Timed renders per template and conversation")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--parses", parses, "Timed parses per template")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--templates", count, "How many of the largest templates")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(fixtures) / "chat", ec)) {
    if (e.path().extension() == ".jinja") files.push_back(e.path());
  }
  if (files.empty()) {
    std::fprintf(stderr, "bench-jinja: no templates under %s/chat\n", fixtures.c_str());
    return 1;
  }
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
    return fs::file_size(a) != fs::file_size(b) ? fs::file_size(a) > fs::file_size(b) : a < b;
  });
  files.resize(std::min(files.size(), static_cast<size_t>(count)));
  ojson templates = ojson::array();
  for (const auto& f : files) templates.push_back(bench_template(f, renders, parses));
  ojson doc = {
      {"bench", "jinja"}, {"renders", renders}, {"parses", parses}, {"templates", templates}};
  std::string line = summary(templates);
  if (out.empty()) {
    std::printf("%s\n", doc.dump(2).c_str());
    std::fflush(stdout);
    std::fprintf(stderr, "%s\n", line.c_str());
    return 0;
  }
  std::ofstream f(out);
  f << doc.dump(2) << "\n";
  if (!f) {
    std::fprintf(stderr, "bench-jinja: cannot write %s\n", out.c_str());
    return 1;
  }
  std::printf("%s\n", line.c_str());
  return 0;
}
