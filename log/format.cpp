#include "log/format.hpp"

#include <time.h>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "log/context.hpp"
#include "log/journal.hpp"
#include "log/json_text.hpp"

namespace troupe::log {

namespace {

/// The JSON name of a context key, or an empty view for a key that would
/// collide with a field every line has.
std::string_view json_key(std::string_view key) {
  if (key == "corr")
    return "correlation_id";
  if (key == "time" || key == "level" || key == "node" || key == "message")
    return {};
  return key;
}

bool small_number(std::string_view v) {
  if (v.empty() || v.size() > 9 || (v.size() > 1 && v.front() == '0'))
    return false;
  for (const char c : v)
    if (c < '0' || c > '9')
      return false;
  return true;
}

void append_field(std::string& out, std::string_view key, std::string_view value) {
  out += ',';
  append_json_string(out, key);
  out += ':';
  if (key == "attempt" && small_number(value))
    out += value;
  else
    append_json_string(out, value);
}

void append_json(std::string& out, std::string_view level, std::chrono::system_clock::time_point time,
                 std::string_view node, std::string_view text) {
  auto c = parse_context(text);
  for (std::size_t i = 0; i < c.size; ++i)
    if (json_key(c.fields[i].key).empty()) {
      c = line_context{};
      c.message = text;
      break;
    }
  out += R"({"time":")";
  append_time(out, time);
  out += R"(","level":)";
  append_json_string(out, level);
  out += R"(,"node":)";
  append_json_string(out, node);
  for (std::size_t i = 0; i < c.size; ++i) {
    const auto& f = c.fields[i];
    // No value, or `corr=-`, a service's line about no event in particular.
    if (f.value.empty() || (f.key == "corr" && f.value == "-"))
      continue;
    append_field(out, json_key(f.key), f.value);
  }
  out += R"(,"message":)";
  append_json_string(out, c.message);
  out += '}';
}

}  // namespace

std::optional<format> parse_format(std::string_view name) {
  if (name == "text")
    return format::text;
  if (name == "json")
    return format::json;
  return std::nullopt;
}

options options_for_stdout(format f) { return {f, stdout_is_journal()}; }

void append_time(std::string& out, std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  auto secs = ms / 1000, milli = ms % 1000;
  if (milli < 0) {
    milli += 1000;
    secs -= 1;
  }
  // gmtime_r costs more than the rest of a line: once per second per thread.
  thread_local long long cached_secs = -1;
  thread_local char cached[24];
  if (secs != cached_secs) {
    const time_t tt = static_cast<time_t>(secs);
    struct tm tm {};
    gmtime_r(&tt, &tm);
    strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
    cached_secs = secs;
  }
  out += cached;
  out += '.';
  out += static_cast<char>('0' + milli / 100);
  out += static_cast<char>('0' + milli / 10 % 10);
  out += static_cast<char>('0' + milli % 10);
  out += 'Z';
}

void append_line(std::string& out, const options& o, spdlog::level::level_enum level,
                 std::chrono::system_clock::time_point time, std::string_view node, std::string_view text) {
  const auto name = spdlog::level::to_string_view(level);
  const std::string_view level_name(name.data(), name.size());
  if (o.journal)
    out += priority_prefix(level);
  if (o.format == format::json) {
    append_json(out, level_name, time, node, text);
  } else {
    append_time(out, time);
    out += ' ';
    out += level_name;
    out += " [node=";
    out += node;
    out += "] ";
    out += text;
  }
  out += '\n';
}

std::optional<spdlog::level::level_enum> level_of_line(std::string_view line) {
  if (line.size() >= 3 && line[0] == '<' && line[1] >= '0' && line[1] <= '7' && line[2] == '>')
    line.remove_prefix(3);
  std::string_view word;
  if (!line.empty() && line.front() == '{') {
    constexpr std::string_view key = R"("level":")";
    const auto at = line.find(key);
    if (at == std::string_view::npos)
      return std::nullopt;
    const auto from = at + key.size(), end = line.find('"', from);
    if (end == std::string_view::npos)
      return std::nullopt;
    word = line.substr(from, end - from);
  } else {
    const auto space = line.find(' ');
    if (space == std::string_view::npos)
      return std::nullopt;
    word = line.substr(space + 1, line.find(' ', space + 1) - space - 1);
  }
  for (int l = spdlog::level::trace; l < spdlog::level::off; ++l) {
    const auto level = static_cast<spdlog::level::level_enum>(l);
    const auto name = spdlog::level::to_string_view(level);
    if (word == std::string_view(name.data(), name.size()))
      return level;
  }
  return std::nullopt;
}

void line_formatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  thread_local std::string line;
  line.clear();
  append_line(line, options_, msg.level, msg.time, node_, std::string_view(msg.payload.data(), msg.payload.size()));
  dest.append(line.data(), line.data() + line.size());
}

std::unique_ptr<spdlog::formatter> line_formatter::clone() const {
  return std::make_unique<line_formatter>(node_, options_);
}

std::shared_ptr<spdlog::logger> make_stdout_logger(const std::string& name, const std::string& node,
                                                   const options& o) {
  auto log = std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::stdout_sink_mt>());
  log->set_formatter(std::make_unique<line_formatter>(node, o));
  log->flush_on(spdlog::level::info);
  return log;
}

}  // namespace troupe::log
