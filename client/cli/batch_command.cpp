// Registers `ringserve batch run|status` and `ringserve jobs dead|retry`.
#include "batch_command.h"

#include <memory>

#include "commands.h"

namespace rs::cli {

namespace {

void add_run(CLI::App& batch) {
  auto args = std::make_shared<BatchRunArgs>();
  CLI::App* sub = batch.add_subcommand(
      "run", "enqueue every line of a JSONL file through the ingest stream; one result line each in OUTPUT");
  sub->add_option("input", args->input, "JSONL: one {\"prompt\", \"id\", \"model\", \"max_tokens\", ...} per line")
      ->required();
  sub->add_option("-o,--output", args->output, "JSONL results (appended; a re-run resumes from it)")->required();
  sub->add_option("--model", args->defaults.model, "model for lines without \"model\"");
  sub->add_option("--max-tokens", args->defaults.max_tokens, "for lines without \"max_tokens\"")
      ->capture_default_str()->check(CLI::Range(1, 65536));
  sub->add_option("--temperature", args->defaults.temperature, "for lines without \"temperature\"")
      ->check(CLI::Range(0.0, 100.0));
  sub->add_option("--seed", args->defaults.seed, "for lines without \"seed\"");
  sub->add_option("--concurrency", args->concurrency, "items in flight at most")
      ->capture_default_str()->check(CLI::Range(1, 1 << 20));
  sub->add_option("--batch", args->batch, "batch id (default: OUTPUT.batch, made on the first run)");
  sub->add_option("--progress-ms", args->progress_ms, "plain progress lines this often (stderr not a terminal)")
      ->capture_default_str()->check(CLI::Range(int64_t{10}, int64_t{3600} * 1000));
  add_models_options(*sub, args->options);
  sub->callback([args] { exit_code() = run_batch_run(*args); });
}

void add_status(CLI::App& batch) {
  auto args = std::make_shared<BatchStatusArgs>();
  CLI::App* sub = batch.add_subcommand("status", "a batch's total, finished, succeeded, failed and pending counts");
  sub->add_option("batch", args->batch, "batch id (see OUTPUT.batch)")->required();
  add_models_options(*sub, args->options);
  sub->callback([args] { exit_code() = run_batch_status(*args); });
}

}  // namespace

void add_batch_command(CLI::App& app) {
  CLI::App* batch = app.add_subcommand("batch", "batch pipelines through the ingest stream: run, status");
  batch->require_subcommand(1);
  add_run(*batch);
  add_status(*batch);
}

void add_jobs_command(CLI::App& app) {
  CLI::App* jobs = app.add_subcommand("jobs", "the dead-letter list: dead, retry");
  jobs->require_subcommand(1);
  auto dead = std::make_shared<JobsDeadArgs>();
  CLI::App* d = jobs->add_subcommand("dead", "list dead-lettered jobs (id, model, error, attempts)");
  add_models_options(*d, dead->options);
  d->callback([dead] { exit_code() = run_jobs_dead(*dead); });
  auto retry = std::make_shared<JobsRetryArgs>();
  CLI::App* r = jobs->add_subcommand("retry", "requeue a dead-lettered job's request through the ingest stream");
  r->add_option("job", retry->job_id, "job id (from `jobs dead`)")->required();
  add_models_options(*r, retry->options);
  r->callback([retry] { exit_code() = run_jobs_retry(*retry); });
}

}  // namespace rs::cli
