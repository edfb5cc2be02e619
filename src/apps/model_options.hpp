// The options every command that loads a model takes (run, plan, serve): the file, where its
// devices come from (this machine or the cluster), the plan's knobs and the device choice.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "runtime/candidate_set.hpp"
#include "runtime/model_plan.hpp"

namespace crossgpu::apps {

struct ModelOptions {
  std::string model;
  bool local = false;
  std::string node = "127.0.0.1:7450";
  std::string config;
  runtime::PlanOptions plan;
  runtime::DeviceChoice devices;
  bool json = false;  // run and plan: print JSON (their own flag)
};

void add_model_options(CLI::App* command, ModelOptions& options);

// This machine's devices (--local) or the cluster's, with a warning on stderr for each peer left
// out, narrowed to --device / --exclude-device.
runtime::CandidateSet gather_devices(const ModelOptions& options);

}  // namespace crossgpu::apps
