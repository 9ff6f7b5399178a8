// How troupe's processes (`troupe node`, `launch`, `gateway`) write their
// log lines, one per line on stdout, in one of two formats:
//
//   text: 2025-03-01T09:14:03.512Z warning [node=payment] [service=payment corr=B-42 ...] message
//   json: {"time":"2025-03-01T09:14:03.512Z","level":"warning","node":"payment",
//          "service":"payment","correlation_id":"B-42",...,"message":"message"}
//
// Times are UTC, to the millisecond. The JSON object is one line; its
// fields after `node` come from the message's leading `[key=value ...]`
// bracket (context.hpp), `corr` named `correlation_id`, `attempt` a
// number, and `message` is what follows it. When stdout is the journal
// (journal.hpp) each line opens with its priority, `<4>` for a warning.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/formatter.h>
#include <spdlog/logger.h>

namespace troupe::log {

enum class format { text, json };

/// "text" or "json"; nullopt for anything else.
std::optional<format> parse_format(std::string_view name);

struct options {
  log::format format = format::text;
  bool journal = false;  // open each line with its journald priority
};

/// `f`, with `journal` set when this process's stdout is the journal.
options options_for_stdout(format f);

/// RFC 3339 in UTC with milliseconds: 2025-03-01T09:14:03.512Z.
void append_time(std::string& out, std::chrono::system_clock::time_point t);

/// Appends one line, its newline included, from `node` at `level` and
/// `time`, saying `text`.
void append_line(std::string& out, const options& o, spdlog::level::level_enum level,
                 std::chrono::system_clock::time_point time, std::string_view node, std::string_view text);

/// The level of a line that append_line wrote, in either format (with or
/// without its priority); nullopt for a line that is neither.
std::optional<spdlog::level::level_enum> level_of_line(std::string_view line);

/// append_line as an spdlog formatter, for one node's (or process's) lines.
class line_formatter final : public spdlog::formatter {
 public:
  line_formatter(std::string node, options o) : node_(std::move(node)), options_(o) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;

 private:
  std::string node_;
  options options_;
};

/// A logger named `name` writing `node`'s lines to stdout as `o` says,
/// flushed at every line of level info and above.
std::shared_ptr<spdlog::logger> make_stdout_logger(const std::string& name, const std::string& node,
                                                   const options& o);

}  // namespace troupe::log
