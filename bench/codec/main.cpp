// bench-codec: the wire codec's decode and encode times for the broker's hottest messages
// (SUBMIT, WORKER_TOKENS of 8 tokens, WORKER_DONE). JSON out (--out, else stdout), one
// summary line on stderr. Each figure is the best of --reps runs of --iterations calls.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "rs/schemas/codec.h"

namespace {

using rs::schemas::decode;
using rs::schemas::encode;

template <class F>
double best_ns(int reps, int iterations, F&& f) {
  double best = 1e300;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iterations; ++i) f();
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double, std::nano>(t1 - t0).count() / iterations);
  }
  return best;
}

template <class T>
nlohmann::json measure(const T& message, int reps, int iterations) {
  const std::string body = encode(message);
  size_t failures = 0;
  const double dec = best_ns(reps, iterations, [&] { failures += decode<T>(body).ok() ? 0 : 1; });
  size_t bytes = 0;
  const double enc = best_ns(reps, iterations, [&] { bytes += encode(message).size(); });
  return {{"bytes", body.size()}, {"decode_ns", dec}, {"encode_ns", enc}, {"failures", failures}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench-codec: wire decode/encode times of the broker's hottest messages"};
  int reps = 5;
  int iterations = 100000;
  std::string out;
  app.add_option("--reps", reps, "runs per figure (the best is kept)")->check(CLI::Range(1, 1000));
  app.add_option("--iterations", iterations, "calls per run")->check(CLI::Range(1, 100000000));
  app.add_option("--out", out, "write the JSON here instead of stdout");
  CLI11_PARSE(app, argc, argv);

  rs::schemas::SubmitRequest submit;
  submit.model = "stories260K";
  submit.prompt = std::string(200, 'p');
  submit.max_tokens = 8;
  submit.stream = true;
  submit.stop = {"\n\n"};
  submit.sampling.seed = 42;
  rs::schemas::WorkerTokens tokens;
  for (uint64_t i = 0; i < 8; ++i) {
    tokens.entries.push_back(rs::schemas::TokenEntry{
        .job_id = "j-0123456789abcdef", .attempt = 1, .seq = i, .token = 100, .text = " tok"});
  }
  rs::schemas::WorkerDone done{
      .job_id = "j-0123456789abcdef", .attempt = 1, .finish_reason = "length"};
  done.usage.completion_tokens = 8;

  nlohmann::json j{{"bench", "codec"},
                   {"reps", reps},
                   {"iterations", iterations},
                   {"submit", measure(submit, reps, iterations)},
                   {"worker_tokens_8", measure(tokens, reps, iterations)},
                   {"worker_done", measure(done, reps, iterations)}};
  if (out.empty()) {
    std::cout << j.dump(2) << "\n";
  } else {
    std::ofstream(out) << j.dump(2) << "\n";
  }
  std::fprintf(
      stderr,
      "bench-codec: decode SUBMIT %.0f ns, WORKER_TOKENS(8) %.0f ns, WORKER_DONE %.0f ns | encode "
      "%.0f / %.0f / %.0f ns\n",
      j["submit"]["decode_ns"].get<double>(), j["worker_tokens_8"]["decode_ns"].get<double>(),
      j["worker_done"]["decode_ns"].get<double>(), j["submit"]["encode_ns"].get<double>(),
      j["worker_tokens_8"]["encode_ns"].get<double>(), j["worker_done"]["encode_ns"].get<double>());
  return 0;
}
