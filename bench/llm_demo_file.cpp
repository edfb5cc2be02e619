#include "llm_demo_file.hpp"

#include <algorithm>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "kernels/weight_type.hpp"
#include "model/gguf.hpp"
#include "model/llama_config.hpp"

namespace crossgpu::bench {
namespace {

// The GGUF bytes of layer `l` as a one-layer demo model. Only layer 0's embedding and head are
// kept, so the other layers skip generating a head (tied output).
std::vector<std::byte> one_layer_model(const model::DemoModelSpec& spec, std::uint32_t l) {
  model::DemoModelSpec one = spec;
  one.layers = 1;
  one.seed = spec.seed + l;
  one.tied_output = l == 0 ? spec.tied_output : true;
  return model::demo_model(one).bytes();
}

std::vector<std::vector<std::byte>> generate_layers(const model::DemoModelSpec& spec) {
  std::vector<std::vector<std::byte>> parts(spec.layers);
  const std::uint32_t threads = std::clamp(std::thread::hardware_concurrency(), 1u, spec.layers);
  std::vector<std::exception_ptr> errors(threads);
  std::vector<std::thread> workers;
  for (std::uint32_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      try {
        for (std::uint32_t l = t; l < spec.layers; l += threads) parts[l] = one_layer_model(spec, l);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  for (std::thread& w : workers) w.join();
  for (const std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  return parts;
}

void copy_tensor(model::GgufWriter& out, const model::GgufFile& in, const std::string& from, const std::string& to) {
  const model::TensorInfo& info = in.tensor(from);
  const std::span<const std::byte> data = in.tensor_data(info);
  out.add_tensor(to, info.dims, static_cast<model::TensorType>(info.type), {data.begin(), data.end()});
}

}  // namespace

void check_shape(const model::DemoModelSpec& spec) {
  // demo_model checks the same, but each thread sees a one-layer spec: say what was asked here.
  if (spec.layers == 0 || spec.heads == 0 || spec.kv_heads == 0 || spec.embedding % spec.heads != 0 ||
      spec.heads % spec.kv_heads != 0) {
    fail(Errc::invalid_argument,
         "demo model: inconsistent shape ({} layers, {} embedding, {} heads, {} KV heads): the heads must divide "
         "the embedding and the KV heads the heads",
         spec.layers, spec.embedding, spec.heads, spec.kv_heads);
  }
  kernels::row_bytes(spec.type, spec.embedding);  // throws for rows that are not whole blocks
  kernels::row_bytes(spec.type, spec.ffn);
}

void write_parallel_demo_model(const std::filesystem::path& path, const model::DemoModelSpec& spec) {
  check_shape(spec);
  std::vector<std::vector<std::byte>> parts = generate_layers(spec);
  const std::vector<std::byte> head_part = std::move(parts[0]);
  const model::GgufFile first = model::GgufFile::parse(head_part);
  model::GgufWriter out;
  for (const auto& [key, value] : first.metadata()) {
    out.add(key, key == "llama.block_count" ? model::GgufValue{std::uint64_t{spec.layers}, model::gguf_type::uint32}
                                            : value);
  }
  copy_tensor(out, first, "token_embd.weight", "token_embd.weight");
  for (std::uint32_t l = 0; l < spec.layers; ++l) {
    // Each part is freed once copied: a large model is held about twice, not three times.
    const std::vector<std::byte> own = std::move(parts[l]);
    const model::GgufFile layer = l == 0 ? first : model::GgufFile::parse(own);
    for (const char* what : model::kLayerTensors) {
      copy_tensor(out, layer, model::layer_tensor(0, what), model::layer_tensor(l, what));
    }
  }
  copy_tensor(out, first, "output_norm.weight", "output_norm.weight");
  if (!spec.tied_output) copy_tensor(out, first, "output.weight", "output.weight");
  out.write(path);
}

}  // namespace crossgpu::bench
