#include "log/format.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>

#include <regex>
#include <sstream>
#include <string>

namespace troupe::log {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

// 2025-03-01T09:14:03.512Z
const system_clock::time_point when{milliseconds(1740820443512LL)};

std::string line(const options& o, spdlog::level::level_enum level, std::string_view text,
                 system_clock::time_point t = when) {
  std::string out;
  append_line(out, o, level, t, "payment", text);
  return out;
}

nlohmann::json json_of(std::string_view text, spdlog::level::level_enum level = spdlog::level::info) {
  auto l = line({format::json, false}, level, text);
  EXPECT_EQ(l.back(), '\n');
  EXPECT_EQ(l.find('\n'), l.size() - 1) << "one line";
  return nlohmann::json::parse(l);
}

TEST(log_format, names) {
  EXPECT_EQ(parse_format("text"), format::text);
  EXPECT_EQ(parse_format("json"), format::json);
  EXPECT_FALSE(parse_format("JSON"));
  EXPECT_FALSE(parse_format(""));
}

TEST(log_format, times_are_utc_with_milliseconds) {
  std::string t;
  append_time(t, when);
  EXPECT_EQ(t, "2025-03-01T09:14:03.512Z");
  t.clear();
  append_time(t, system_clock::time_point{milliseconds(7)});
  EXPECT_EQ(t, "1970-01-01T00:00:00.007Z");
  t.clear();
  append_time(t, system_clock::time_point{milliseconds(-1)});
  EXPECT_EQ(t, "1969-12-31T23:59:59.999Z");
  // The same second again, from the cache, with other milliseconds.
  t.clear();
  append_time(t, when + milliseconds(400));
  EXPECT_EQ(t, "2025-03-01T09:14:03.912Z");
}

TEST(log_format, text_keeps_its_shape_in_utc) {
  EXPECT_EQ(line({}, spdlog::level::warn, "[service=payment corr=B-42] declined"),
            "2025-03-01T09:14:03.512Z warning [node=payment] [service=payment corr=B-42] declined\n");
}

TEST(log_format, json_has_the_context_as_fields) {
  const auto j = json_of(
      "[service=payment rule=charge-new-bookings corr=B-42 event=0190ab attempt=2] HANDLER_ERROR: card declined",
      spdlog::level::warn);
  EXPECT_EQ(j, (nlohmann::json{{"time", "2025-03-01T09:14:03.512Z"},
                               {"level", "warning"},
                               {"node", "payment"},
                               {"service", "payment"},
                               {"rule", "charge-new-bookings"},
                               {"correlation_id", "B-42"},
                               {"event", "0190ab"},
                               {"attempt", 2},
                               {"message", "HANDLER_ERROR: card declined"}}));
  // In a fixed order, time first and message last.
  const auto l = line({format::json, false}, spdlog::level::info, "[corr=B-1 service=seat] m");
  EXPECT_EQ(l, R"({"time":"2025-03-01T09:14:03.512Z","level":"info","node":"payment","correlation_id":"B-1",)"
               R"("service":"seat","message":"m"})" "\n");
}

TEST(log_format, json_without_context_is_all_message) {
  const auto j = json_of("ready: services [seat], pub tcp://127.0.0.1:5000");
  EXPECT_EQ(j.size(), 4u) << j;
  EXPECT_EQ(j["message"], "ready: services [seat], pub tcp://127.0.0.1:5000");
}

TEST(log_format, json_leaves_out_a_service_lines_missing_correlation) {
  const auto j = json_of("[service=seat corr=-] restore: skipping unknown table x");
  EXPECT_FALSE(j.contains("correlation_id")) << j;
  EXPECT_EQ(j["service"], "seat");
}

TEST(log_format, json_leaves_out_empty_values) {
  const auto j = json_of("[service=seat rule=r corr= event=e] m");
  EXPECT_FALSE(j.contains("correlation_id")) << j;
  EXPECT_EQ(j["event"], "e");
}

TEST(log_format, a_context_that_would_overwrite_a_field_stays_in_the_message) {
  const auto j = json_of("[node=other level=debug] m");
  EXPECT_EQ(j["node"], "payment");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["message"], "[node=other level=debug] m");
}

TEST(log_format, an_attempt_that_is_no_number_stays_a_string) {
  EXPECT_EQ(json_of("[attempt=x] m")["attempt"], "x");
  EXPECT_EQ(json_of("[attempt=0] m")["attempt"], 0);
  EXPECT_EQ(json_of("[attempt=007] m")["attempt"], "007");
}

TEST(log_format, json_is_valid_for_any_message) {
  const std::string nasty = "[service=a\"b corr=\xff] two\nlines \"quoted\" \\ \x01 \xc3\x28 end";
  const auto j = json_of(nasty);
  EXPECT_EQ(j["service"], "a\"b");
  EXPECT_EQ(j["correlation_id"], "\xef\xbf\xbd");
  EXPECT_EQ(j["message"], "two\nlines \"quoted\" \\ \x01 \xef\xbf\xbd( end");
}

TEST(log_format, the_journal_gets_each_lines_priority_first) {
  const options text{format::text, true}, json{format::json, true};
  EXPECT_EQ(line(text, spdlog::level::info, "m").substr(0, 4), "<6>2");
  EXPECT_EQ(line(text, spdlog::level::warn, "m").substr(0, 3), "<4>");
  EXPECT_EQ(line(json, spdlog::level::err, "m").substr(0, 4), "<3>{");
  EXPECT_EQ(line(json, spdlog::level::critical, "m").substr(0, 3), "<2>");
  EXPECT_EQ(line(json, spdlog::level::debug, "m").substr(0, 3), "<7>");
  EXPECT_EQ(line({}, spdlog::level::info, "m").front(), '2') << "no prefix off the journal";
}

TEST(log_format, level_of_line_reads_either_format_back) {
  for (const auto f : {format::text, format::json})
    for (const bool journal : {false, true})
      for (const auto level : {spdlog::level::trace, spdlog::level::debug, spdlog::level::info, spdlog::level::warn,
                               spdlog::level::err, spdlog::level::critical}) {
        auto l = line({f, journal}, level, "[service=x] some words");
        l.pop_back();
        EXPECT_EQ(level_of_line(l), level) << l;
      }
  EXPECT_FALSE(level_of_line("AddressSanitizer: heap-use-after-free on address 0x6020"));
  EXPECT_FALSE(level_of_line(""));
  EXPECT_FALSE(level_of_line("{\"no\":\"level\"}"));
}

TEST(log_format, as_an_spdlog_formatter) {
  std::string before, after;
  append_time(before, system_clock::now());
  std::ostringstream os;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(os);
  spdlog::logger logger("t", sink);
  logger.set_formatter(std::make_unique<line_formatter>("seat", options{format::json, false}));
  logger.warn("[service={} corr={}] {}", "seat", "B-7", "no seat left");
  logger.info("plain {}", 1);
  append_time(after, system_clock::now());
  std::istringstream lines(os.str());
  std::string first, second, more;
  ASSERT_TRUE(std::getline(lines, first));
  ASSERT_TRUE(std::getline(lines, second));
  EXPECT_FALSE(std::getline(lines, more));
  const auto a = nlohmann::json::parse(first), b = nlohmann::json::parse(second);
  EXPECT_EQ(a["node"], "seat");
  EXPECT_EQ(a["level"], "warning");
  EXPECT_EQ(a["correlation_id"], "B-7");
  EXPECT_EQ(a["message"], "no seat left");
  EXPECT_EQ(b["message"], "plain 1");
  EXPECT_TRUE(std::regex_match(a["time"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
  // The time of logging, in UTC (the format sorts as time does).
  EXPECT_LE(before, a["time"].get<std::string>());
  EXPECT_LE(a["time"].get<std::string>(), after);
}

}  // namespace
}  // namespace troupe::log
