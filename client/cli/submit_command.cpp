// `ringserve submit PROMPT`: submit a job; print its id, or stream / wait for it.
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "commands.h"
#include "job_output.h"
#include "json_format.h"
#include "options.h"
#include "rs/schemas/errors.h"
#include "rs/schemas/model_ref.h"

namespace rs::cli {

namespace {

struct SubmitArgs {
  CommonOptions common;
  std::string prompt;
  std::string model;
  bool stream = false;
  bool wait = false;
  bool ignore_eos = false;
  uint32_t max_tokens = 128;
  float temperature = 1.0f;
  std::optional<int32_t> top_k;
  std::optional<float> top_p;
  std::optional<uint64_t> seed;
  std::string priority = "interactive";
  std::string affinity_key;
  std::string session_id;
  std::string idempotency_key;
  int job_timeout_ms = -1;
};

// --model (a name, or name@version to pin a version; passed through as given), else the
// one model name the workers serve.
bool choose_model(client::Client& c, SubmitArgs& args) {
  if (!args.model.empty()) return true;
  auto devices = c.workers();
  if (!devices.ok()) {
    report_error(args.common, devices.status());
    return false;
  }
  std::set<std::string> models;  // names: "tiny@1" and "tiny@2" are one model
  for (const auto& d : *devices) {
    for (const auto& key : d.models) {
      auto ref = schemas::parse_model_ref(key);
      models.insert(ref ? ref->name : key);
    }
  }
  if (models.empty()) {
    report_error(args.common, "unknown_model", "no worker is serving a model");
    return false;
  }
  if (models.size() > 1) {
    std::string list;
    for (const auto& m : models) list += (list.empty() ? "" : ", ") + m;
    report_error(args.common, "invalid_argument",
                 "several models are served (" + list + "): pass --model NAME");
    return false;
  }
  args.model = *models.begin();
  return true;
}

schemas::SubmitRequest make_request(const SubmitArgs& args) {
  schemas::SubmitRequest r;
  r.model = args.model;
  r.prompt = args.prompt;
  r.max_tokens = args.max_tokens;
  r.sampling.temperature = args.temperature;
  if (args.top_k) r.sampling.top_k = *args.top_k;
  if (args.top_p) r.sampling.top_p = *args.top_p;
  r.sampling.seed = args.seed;  // absent: the broker chooses one
  r.priority = *schemas::parse_priority(args.priority);
  r.affinity_key = args.affinity_key;
  r.session_id = args.session_id;
  r.idempotency_key = args.idempotency_key;
  r.stream = args.stream;
  r.ignore_eos = args.ignore_eos;
  return r;
}

int run_submit(SubmitArgs& args) {
  if (args.prompt == "-") {  // the prompt from stdin (for prompts too long for argv)
    std::ostringstream in;
    in << std::cin.rdbuf();
    args.prompt = in.str();
  }
  auto c = connect_or_report(args.common);
  if (!c) return kExitError;
  if (!choose_model(*c, args)) return kExitError;
  auto accepted = c->submit(make_request(args));
  if (!accepted.ok()) return report_error(args.common, accepted.status());
  if (!args.stream && !args.wait) {
    if (args.common.json) {
      nlohmann::json j{{"job", accepted->job_id}, {"duplicate", accepted->duplicate}};
      std::printf("%s\n", json_line(j).c_str());
    } else {
      std::printf("%s\n", accepted->job_id.c_str());
    }
    return kExitOk;
  }
  if (accepted->duplicate) {
    // The first submission's job: its tokens and DONE go to its submitter; follow it here.
    if (Status s = c->subscribe(accepted->job_id, 0); !s.ok()) return report_error(args.common, s);
  }
  return follow_job(*c, args.common, accepted->job_id, args.stream, args.job_timeout_ms);
}

}  // namespace

void add_submit_command(CLI::App& app) {
  auto args = std::make_shared<SubmitArgs>();
  CLI::App* sub = app.add_subcommand("submit", "submit a job (prints its id, or streams / waits)");
  sub->add_option("prompt", args->prompt, "the prompt ('-': read it from stdin)")->required();
  sub->add_option("--model", args->model, "model NAME or NAME@VERSION (default: the one model name the workers serve)");
  sub->add_flag("--stream", args->stream, "print the text as it is generated, then the record");
  sub->add_flag("--wait", args->wait, "wait for the job and print its final record");
  sub->add_option("--max-tokens", args->max_tokens, "tokens to generate at most")
      ->capture_default_str()->check(CLI::Range(1, 65536));
  sub->add_option("--temperature", args->temperature, "sampling temperature (0: greedy)")
      ->capture_default_str()->check(CLI::Range(0.0, 100.0));
  sub->add_option("--top-k", args->top_k, "top-k sampling (0: off)")->check(CLI::Range(0, 1 << 30));
  sub->add_option("--top-p", args->top_p, "nucleus sampling (1: off)")->check(CLI::Range(0.0, 1.0));
  sub->add_option("--seed", args->seed, "sampling seed (default: one the broker chooses)");
  sub->add_flag("--ignore-eos", args->ignore_eos, "generate past end-of-text tokens, up to --max-tokens");
  sub->add_option("--priority", args->priority, "interactive | batch")
      ->capture_default_str()->check(CLI::IsMember({"interactive", "batch"}));
  sub->add_option("--affinity-key", args->affinity_key, "routing key (same key, same device)");
  sub->add_option("--session-id", args->session_id, "routing key when no affinity key");
  sub->add_option("--idempotency-key", args->idempotency_key, "a resubmission returns the first job");
  sub->add_option("--job-timeout-ms", args->job_timeout_ms,
                  "with --stream/--wait: give up after this long (-1: never)")->capture_default_str();
  add_common_options(*sub, args->common);
  sub->callback([args] { exit_code() = run_submit(*args); });
}

}  // namespace rs::cli
