#include <gtest/gtest.h>

#include <optional>

#include "sleeptime/hash.h"
#include "sleeptime/prompts.h"
#include "sleeptime/status.h"

using namespace sleeptime;

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  std::string million(1000000, 'a');
  EXPECT_EQ(Sha256Hex(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  std::string data(1000, 'q');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31);
  for (size_t split : {0u, 1u, 63u, 64u, 65u, 500u}) {
    Sha256 h;
    h.Update(std::string_view(data).substr(0, split));
    h.Update(std::string_view(data).substr(split));
    EXPECT_EQ(ToHex(h.Finish()), Sha256Hex(data)) << split;
  }
}

Result<int> Half(int x) {
  if (x % 2) return Status::InvalidArgument("odd");
  return x / 2;
}

Status Quarter(int x, int* out) {
  ST_ASSIGN_OR_RETURN(int h, Half(x));
  ST_ASSIGN_OR_RETURN(*out, Half(h));
  return Status::Ok();
}

TEST(StatusTest, MacrosPropagate) {
  int out = 0;
  EXPECT_TRUE(Quarter(8, &out).ok());
  EXPECT_EQ(out, 2);
  Status st = Quarter(6, &out);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.ToString(), "invalid argument: odd");
}

TEST(Templates, RenderReplacesKnownPlaceholdersOnly) {
  EXPECT_EQ(RenderTemplate("a {{x}} b {{y}} {{x}}", {{"x", "1"}}), "a 1 b {{y}} 1");
  EXPECT_EQ(RenderTemplate("{{x}}", {{"x", "{{x}}"}}), "{{x}}");
  EXPECT_EQ(RenderTemplate("no close {{x", {{"x", "1"}}), "no close {{x");
}

TEST(Templates, WriteThenLoadRoundTripsAndOverrides) {
  std::string dir = ::testing::TempDir() + "/templates_rt";
  PromptTemplates t = DefaultPromptTemplates();
  t.question = "Q: {{query}}\nA:";
  t.stop = {"\n\n", "END"};
  ASSERT_TRUE(WritePromptTemplates(t, dir).ok());
  auto loaded = LoadPromptTemplates(dir);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->question, t.question);
  EXPECT_EQ(loaded->stop, t.stop);
  EXPECT_EQ(loaded->verbosity[4], t.verbosity[4]);
  EXPECT_EQ(LoadPromptTemplates(dir + "/missing").status().code(), StatusCode::kNotFound);
}

TEST(Templates, ModelMetadataThenDirectoryOverride) {
  auto model = [](const std::string& name) -> std::optional<std::string> {
    if (name == "question") return "Q: {{query}}";
    if (name == "stop") return "\\n";
    if (name == "notes_separator") return "\nNOTES:";
    return std::nullopt;
  };
  auto t = LoadPromptTemplates(model, "");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->question, "Q: {{query}}");
  EXPECT_EQ(t->stop, std::vector<std::string>{"\n"});
  EXPECT_EQ(t->notes_separator, "\nNOTES:");
  EXPECT_EQ(t->sleep, DefaultPromptTemplates().sleep);

  std::string dir = ::testing::TempDir() + "/templates_override";
  PromptTemplates user = DefaultPromptTemplates();
  user.question = "Question from the user dir: {{query}}";
  ASSERT_TRUE(WritePromptTemplates(user, dir).ok());
  auto both = LoadPromptTemplates(model, dir);
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->question, user.question);  // the directory wins over the model
}

TEST(Templates, AModelWithItsOwnSleepPromptMergesByContinuingIt) {
  auto own_sleep = [](const std::string& name) -> std::optional<std::string> {
    if (name == "sleep") return "{{context}}\nNOTES:";
    if (name == "notes_separator") return "\nNOTES:";
    return std::nullopt;
  };
  auto t = LoadPromptTemplates(own_sleep, "");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->merge, "{{context}}\nNOTES:{{candidates}}\nNOTES:");
  // A model that also carries a merge prompt keeps it; one without a sleep
  // prompt keeps the instruction-style default.
  auto own_merge = [&](const std::string& name) -> std::optional<std::string> {
    if (name == "merge") return "M {{candidates}}";
    return own_sleep(name);
  };
  EXPECT_EQ(LoadPromptTemplates(own_merge, "")->merge, "M {{candidates}}");
  EXPECT_EQ(LoadPromptTemplates("")->merge, DefaultPromptTemplates().merge);
  EXPECT_NE(DefaultPromptTemplates().merge.find("{{candidates}}"), std::string::npos);
}
