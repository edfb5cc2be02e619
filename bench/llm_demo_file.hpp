// A demo model file for the benchmark, generated on every core. model::demo_model draws every
// weight from one sequential random stream (a 7B-class layer takes seconds), so a large model would
// cost the GPU machine minutes of a single core. Here each layer is the one layer of its own demo
// model (seed spec.seed + layer), generated in parallel, and the layers are spliced into one file
// with layer 0's embedding, head and metadata: the same shapes, types and weight distributions as
// demo_model(spec), but not the same bytes (the benchmark compares runs of the same file only).
#pragma once

#include <filesystem>

#include "model/demo_model.hpp"

namespace crossgpu::bench {

// Errc::invalid_argument for a spec demo_model would refuse, said of the whole model.
void check_shape(const model::DemoModelSpec& spec);

// Throws what demo_model throws for an invalid spec, Errc::io when the file cannot be written.
void write_parallel_demo_model(const std::filesystem::path& path, const model::DemoModelSpec& spec);

}  // namespace crossgpu::bench
