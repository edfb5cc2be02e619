// `crossgpu run --model FILE --prompt TEXT`: plans the model onto the cluster's devices (or this
// machine's with --local), streams each stage its weights, generates with the tokens printed as
// they come, then prints the summary. `crossgpu plan --model FILE` stops after the plan.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>

#include "apps/commands.hpp"
#include "apps/model_options.hpp"
#include "apps/run_printing.hpp"
#include "model/llama_config.hpp"
#include "model/tokenizer.hpp"
#include "runtime/model_plan.hpp"
#include "runtime/model_run.hpp"
#include "runtime/model_session.hpp"
#include "runtime/run_summary.hpp"

namespace crossgpu::apps {
namespace {

struct RunOptions {
  ModelOptions model;
  std::string prompt;
  bool chat = false;
  model::GenerateOptions generate;
};

int run_plan(const ModelOptions& o) {
  const auto file = model::GgufFile::open(o.model);
  const auto config = model::LlamaConfig::from_gguf(file);
  const runtime::CandidateSet devices = gather_devices(o);
  const runtime::ModelPlan plan = runtime::plan_model(file, config, devices, o.plan);
  if (o.json) std::puts(runtime::plan_json(plan).dump(2).c_str());
  else print_plan(plan, config, stdout);
  return 0;
}

int run_run(const RunOptions& o) {
  const auto file = model::GgufFile::open(o.model.model);
  const auto config = model::LlamaConfig::from_gguf(file);
  const auto tokenizer = model::Tokenizer::from_gguf(file);
  const runtime::CandidateSet devices = gather_devices(o.model);  // kept alive: the pipeline uses them
  runtime::ModelRun run(file, config, devices, o.model.plan);
  const bool json = o.model.json;
  if (!json) print_plan(run.plan(), config, stderr);
  run.load(json ? runtime::WeightProgressCallback() : draw_weight_progress);
  std::FILE* text = json ? nullptr : stdout;
  const runtime::RunReport report =
      run.run(tokenizer, o.prompt, o.chat, o.generate, piece_printer(text),
              [json](const runtime::RecoveryEvent& e) { if (!json) print_recovery(e, stderr); });
  if (json) {
    nlohmann::json out = runtime::summary_json(report, run.pipeline(), run.plan());
    out["recoveries"] = nlohmann::json::array();
    for (const auto& e : run.recoveries()) out["recoveries"].push_back(runtime::recovery_json(e));
    std::puts(out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());  // text may end mid-character
  } else {
    std::fputc('\n', stdout);
    print_summary(report, run.pipeline(), run.plan(), stderr);
  }
  return 0;
}

}  // namespace

void add_plan_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<ModelOptions>();
  CLI::App* command = app.add_subcommand("plan", "show where a model's layers would run, with predicted times");
  add_model_options(command, *options);
  command->add_flag("--json", options->json, "print the plan as JSON");
  command->callback([options, &exit_code] { exit_code = run_plan(*options); });
}

void add_run_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* command = app.add_subcommand("run", "generate text with a model across the cluster");
  add_model_options(command, options->model);
  command->add_flag("--json", options->model.json, "print the result as JSON");
  command->add_option("--prompt", options->prompt, "the prompt")->required();
  command->add_flag("--chat", options->chat, "wrap the prompt in the model's chat template");
  model::GenerateOptions& g = options->generate;
  command->add_option("--max-tokens", g.max_tokens, "tokens to generate at most")->capture_default_str();
  command->add_option("--temperature", g.sampler.temperature, "0 for greedy")->capture_default_str();
  command->add_option("--top-k", g.sampler.top_k, "0 for no limit")->capture_default_str();
  command->add_option("--top-p", g.sampler.top_p, "1 for no limit")->capture_default_str();
  command->add_option("--seed", g.sampler.seed, "sampling seed")->capture_default_str();
  command->callback([options, &exit_code] { exit_code = run_run(*options); });
}

}  // namespace crossgpu::apps
