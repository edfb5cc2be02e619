// Chat formats: each recognised from a template's markers (snippets of the templates the model
// families ship) and written out exactly; the ChatML fallback; ChatTemplate (Jinja) and its
// fallback for files without a template; and the tokenizer applying its file's template, with the
// format's special tokens parsed back into their ids.
#include <gtest/gtest.h>

#include "model/chat_template.hpp"
#include "model/jinja/error.hpp"
#include "model/tokenizer.hpp"

namespace crossgpu::model {
namespace {

const std::vector<ChatMessage> conversation = {
    {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "Name?"}};

TEST(ChatTemplate, RecognisesTheCommonTemplates) {
  const std::pair<const char*, ChatFormat> cases[] = {
      {"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
       "'<|im_end|>' + '\\n'}}{% endfor %}", ChatFormat::chatml},
      {"{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}", ChatFormat::llama3},
      {"{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}",
       ChatFormat::gemma},
      {"{{'<|user|>' + '\\n' + message['content'] + '<|end|>' + '\\n'}}", ChatFormat::phi3},
      {"{{ '<|user|>\\n' + message['content'] + eos_token }}", ChatFormat::zephyr},
      {"{{ bos_token + '[INST] ' + '<<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' }}", ChatFormat::llama2},
      {"{{ '[INST] ' + message['content'] + ' [/INST]' }}", ChatFormat::mistral},
      {"", ChatFormat::chatml},
      {"{{ something unknown }}", ChatFormat::chatml},
  };
  for (const auto& [text, format] : cases) {
    EXPECT_EQ(detect_chat_format(text), format) << text << " gave " << chat_format_name(detect_chat_format(text));
  }
}

TEST(ChatTemplate, ChatMl) {
  EXPECT_EQ(format_chat(ChatFormat::chatml, conversation, true),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nName?<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(format_chat(ChatFormat::chatml, {{"user", "x"}}, false), "<|im_start|>user\nx<|im_end|>\n");
}

TEST(ChatTemplate, Llama2) {
  EXPECT_EQ(format_chat(ChatFormat::llama2, conversation, true),
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Name? [/INST]");
}

TEST(ChatTemplate, Llama3) {
  EXPECT_EQ(format_chat(ChatFormat::llama3, conversation, true),
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nName?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplate, Mistral) {
  EXPECT_EQ(format_chat(ChatFormat::mistral, conversation, true),
            "[INST] Be brief.\n\nHi [/INST]Hello.</s>[INST] Name? [/INST]");
}

TEST(ChatTemplate, Zephyr) {
  EXPECT_EQ(format_chat(ChatFormat::zephyr, conversation, true),
            "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello.</s>\n<|user|>\nName?</s>\n"
            "<|assistant|>\n");
}

TEST(ChatTemplate, Gemma) {
  EXPECT_EQ(format_chat(ChatFormat::gemma, conversation, true),
            "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n"
            "<start_of_turn>user\nName?<end_of_turn>\n<start_of_turn>model\n");
}

TEST(ChatTemplate, Phi3) {
  EXPECT_EQ(format_chat(ChatFormat::phi3, conversation, false),
            "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello.<|end|>\n"
            "<|user|>\nName?<|end|>\n");
}

TEST(ChatTemplate, RendersTheTemplateWithTheFilesSpecialTokens) {
  const ChatTemplate t("{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content | trim }}{{ eos_token }}"
                       "{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}",
                       "<s>", "</s>");
  ASSERT_TRUE(t.has_template());
  EXPECT_EQ(t.render({{"user", " Hi "}}, true), "<s>[user]Hi</s>[assistant]");
  EXPECT_EQ(t.render({{"user", "Hi"}}, false), "<s>[user]Hi</s>");
  // A tokenizer that adds BOS itself gets the prompt without the template's leading BOS.
  EXPECT_EQ(t.render_for_tokenizer({{"user", "Hi"}}, false, true), "[user]Hi</s>");
  EXPECT_EQ(t.render_for_tokenizer({{"user", "Hi"}}, false, false), "<s>[user]Hi</s>");
  // Special tokens the file lacks stay undefined, as transformers leaves them.
  EXPECT_EQ(ChatTemplate("{{ bos_token is defined }}", std::nullopt, std::nullopt).render({}, false), "False");
  // Other message fields and variables reach the template.
  EXPECT_EQ(t.render_json(nlohmann::ordered_json::parse(R"([{"role": "tool", "content": "x", "name": "f"}])"), false,
                          {{"tools", {1, 2}}}),
            "<s>[tool]x</s>");
  EXPECT_EQ(ChatTemplate("{{ messages[0].name }}{{ tools | length }}", std::nullopt, std::nullopt)
                .render_json(nlohmann::ordered_json::parse(R"([{"role": "tool", "name": "f"}])"), false, {{"tools", {1, 2}}}),
            "f2");
}

TEST(ChatTemplate, WithoutATemplateTheBuiltInFormatIsUsed) {
  const ChatTemplate none;
  EXPECT_FALSE(none.has_template());
  EXPECT_EQ(none.render({{"user", "Hi"}}, true), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  const ChatTemplate llama3("", "<|begin_of_text|>", "<|eot_id|>", ChatFormat::llama3);
  EXPECT_EQ(llama3.render({{"user", "Hi"}}, true), format_chat(ChatFormat::llama3, {{"user", "Hi"}}, true));
  // A file's template is read with its BOS/EOS texts; without one, the fallback.
  TokenizerSpec spec = demo_spm_vocabulary();
  spec.chat_template = "{{ bos_token }}|{{ eos_token }}|{{ messages | length }}";
  GgufWriter w;
  add_tokenizer_metadata(w, spec);
  std::vector<std::byte> bytes = w.bytes();
  EXPECT_EQ(ChatTemplate::from_gguf(GgufFile::parse(bytes)).render({{"user", "a"}}, false), "<s>|</s>|1");
  spec.chat_template.clear();
  GgufWriter plain;
  add_tokenizer_metadata(plain, spec);
  bytes = plain.bytes();
  EXPECT_FALSE(ChatTemplate::from_gguf(GgufFile::parse(bytes)).has_template());
}

TEST(ChatTemplate, MalformedInputIsATypedError) {
  EXPECT_THROW(ChatTemplate("{% for %}", "<s>", "</s>"), jinja::TemplateError);
  const ChatTemplate t("{{ raise_exception('no ' ~ messages[0].role) }}", std::nullopt, std::nullopt);
  try {
    (void)t.render({{"tool", "x"}}, false);
    ADD_FAILURE() << "no error";
  } catch (const jinja::TemplateError& e) {
    EXPECT_EQ(e.kind(), jinja::TemplateErrc::raised);
    EXPECT_EQ(e.detail(), "no tool");
  }
  EXPECT_THROW((void)t.render_json(nlohmann::ordered_json::object(), false), Error);
  EXPECT_THROW(parse_chat_input("{"), Error);
  EXPECT_THROW(parse_chat_input("[1]"), Error);
  EXPECT_THROW(parse_chat_input(R"({"messages": {}})"), Error);
  const ChatInput in = parse_chat_input(R"({"messages": [{"role": "user"}], "enable_thinking": false})");
  EXPECT_EQ(in.messages.size(), 1u);
  EXPECT_EQ(in.variables["enable_thinking"], false);
}

Tokenizer with_template(const std::string& chat_template) {
  TokenizerSpec spec = demo_spm_vocabulary();
  spec.chat_template = chat_template;
  GgufWriter w;
  add_tokenizer_metadata(w, spec);
  const std::vector<std::byte> bytes = w.bytes();
  return Tokenizer::from_gguf(GgufFile::parse(bytes));
}

TEST(ChatTemplate, TheTokenizerUsesItsFilesTemplateOrChatMl) {
  EXPECT_EQ(with_template("").chat_format(), ChatFormat::chatml);
  // A Gemma-style template: the built-in format it is recognised as and the Jinja rendering
  // agree, so this holds whichever of the two the tokenizer applies.
  const std::string gemma_template =
      "{% for m in messages %}<start_of_turn>{{ 'model' if m.role == 'assistant' else m.role }}\n"
      "{{ m.content }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}";
  const Tokenizer gemma = with_template(gemma_template);
  EXPECT_EQ(gemma.chat_format(), ChatFormat::gemma);
  EXPECT_EQ(ChatTemplate(gemma_template, "<s>", "</s>").render({{"user", "Hi"}}, true),
            "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(gemma.apply_chat_template({{"user", "Hi"}}, true),
            "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n");

  const Tokenizer chatml = with_template("");
  const std::string prompt = chatml.apply_chat_template({{"user", "Hello world"}}, true);
  const std::vector<std::uint32_t> ids = chatml.encode(prompt);
  std::uint32_t im_start = 0, im_end = 0;
  for (std::uint32_t i = 0; i < chatml.vocab_size(); ++i) {
    if (chatml.token_text(i) == "<|im_start|>") im_start = i;
    if (chatml.token_text(i) == "<|im_end|>") im_end = i;
  }
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids[0], chatml.bos());
  EXPECT_EQ(ids[1], im_start);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), im_start), 2);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), im_end), 1);
  EXPECT_TRUE(chatml.is_end_of_generation(im_end));
}

}  // namespace
}  // namespace crossgpu::model
