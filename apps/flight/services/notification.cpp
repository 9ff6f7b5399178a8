#include "apps/flight/services/notification.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "actors/detail_reader.hpp"
#include "actors/service_log.hpp"
#include "actors/row_reader.hpp"
#include "apps/flight/services/audit.hpp"
#include "apps/flight/services/settings.hpp"
#include "cluster/directory_check.hpp"

namespace troupe::flight {

namespace fs = std::filesystem;

namespace {

constexpr const char* service_name = "notification";
constexpr const char* emails_table = "emails";
constexpr std::size_t max_encoded_key = 100;
constexpr std::size_t max_line = 78;        // RFC 5322 SHOULD; 998 is the MUST
constexpr std::size_t max_body_value = 900; // keeps every body line under 998

bool printable_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7e)
      return false;
  return true;
}

std::string base64(std::string_view in) {
  static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// RFC 2047 encoded words, each whole UTF-8 characters and short enough
// that "Subject: " plus one word fits a 78-column line.
std::string encoded_words(std::string_view text) {
  constexpr std::size_t chunk = 42;  // bytes -> 56 base64 chars + 12 of framing
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = std::min(pos + chunk, text.size());
    while (end < text.size() && end > pos + 1 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80)
      --end;
    if (!out.empty())
      out += ' ';
    out += "=?utf-8?B?" + base64(text.substr(pos, end - pos)) + "?=";
    pos = end;
  }
  return out;
}

// An unstructured header value (Subject).
std::string unstructured(std::string_view text) {
  return printable_ascii(text) ? std::string(text) : encoded_words(text);
}

// A display name: a quoted string, or encoded words when not ASCII.
std::string phrase(std::string_view name) {
  if (!printable_ascii(name))
    return encoded_words(name);
  std::string out = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

// "Name: value" CRLF, folded before a space where a line would pass 78
// columns. Folding keeps the space, so unfolding restores the value.
std::string header(std::string_view name, std::string_view value) {
  std::string out(name);
  out += ": ";
  std::size_t line = out.size();
  bool first = true;
  std::size_t i = 0;
  for (;;) {
    const auto sp = value.find(' ', i);
    const auto word = value.substr(i, sp == std::string_view::npos ? std::string_view::npos : sp - i);
    if (!first) {
      if (!word.empty() && line + 1 + word.size() > max_line) {
        out += "\r\n ";
        line = 1;
      } else {
        out += ' ';
        ++line;
      }
    }
    out += word;
    line += word.size();
    first = false;
    if (sp == std::string_view::npos)
      break;
    i = sp + 1;
  }
  out += "\r\n";
  return out;
}

std::string domain_of(const std::string& address) { return address.substr(address.find('@') + 1); }

std::string format_amount(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", x);
  return buf;
}

// A value from an event, made safe for one body line.
std::string body_value(std::string_view s) { return header_safe(s, max_body_value); }

bool key_byte(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;  // keys are written with capital hex digits only
}

std::uint64_t fnv1a64(std::string_view s) {
  std::uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

} // namespace

std::string mail_key(std::string_view booking_id) {
  static const char hex[] = "0123456789ABCDEF";
  std::string key = "B";
  for (unsigned char c : booking_id) {
    if (key_byte(c)) {
      key += static_cast<char>(c);
    } else {
      key += '%';
      key += hex[c >> 4];
      key += hex[c & 15];
    }
    if (key.size() > max_encoded_key + 1)
      break;
  }
  if (key.size() <= max_encoded_key + 1)
    return key;
  char buf[20];
  std::snprintf(buf, sizeof buf, "H%016llx", static_cast<unsigned long long>(fnv1a64(booking_id)));
  return buf;
}

std::optional<std::string> booking_of_mail_key(std::string_view key) {
  if (key.size() < 2 || key.front() != 'B')
    return std::nullopt;
  std::string id;
  for (std::size_t i = 1; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (key_byte(c)) {
      id += static_cast<char>(c);
      continue;
    }
    if (c != '%' || i + 2 >= key.size())
      return std::nullopt;
    const int hi = hex_value(key[i + 1]), lo = hex_value(key[i + 2]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    const auto byte = static_cast<unsigned char>(hi * 16 + lo);
    if (key_byte(byte))
      return std::nullopt;  // not how mail_key writes it: keys stay one per id
    id += static_cast<char>(byte);
    i += 2;
  }
  return id;
}

std::string mail_file_name(std::int64_t time_ms, std::string_view booking_id) {
  const auto secs = std::max<std::int64_t>(0, time_ms / 1000);
  return std::to_string(secs) + "." + mail_key(booking_id) + "." + maildir::host_name();
}

std::optional<std::string> mail_key_of_file(std::string_view file_name) {
  const auto name = maildir::base_name(file_name);
  const auto first = name.find('.');
  if (first == std::string_view::npos || first == 0)
    return std::nullopt;
  for (char c : name.substr(0, first))
    if (c < '0' || c > '9')
      return std::nullopt;
  const auto second = name.find('.', first + 1);
  if (second == std::string_view::npos || second + 1 == name.size())
    return std::nullopt;  // no host part
  const auto key = name.substr(first + 1, second - first - 1);
  if (key.size() < 2)
    return std::nullopt;
  if (key.front() == 'B') {
    if (!booking_of_mail_key(key))
      return std::nullopt;
  } else if (key.front() == 'H') {
    if (key.size() != 17 || key.find_first_not_of("0123456789abcdef", 1) != std::string_view::npos)
      return std::nullopt;
  } else {
    return std::nullopt;
  }
  return std::string(key);
}

std::string header_safe(std::string_view s, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(s.size(), max_bytes));
  for (unsigned char c : s) {
    if (c == '\t')
      c = ' ';
    if (c < 0x20 || c == 0x7f)
      continue;
    out += static_cast<char>(c);
  }
  if (out.size() > max_bytes) {
    std::size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80)
      --cut;
    out.resize(cut);
  }
  return out;
}

std::optional<mailbox_address> parse_mailbox(std::string_view text) {
  const auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
      v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
      v.remove_suffix(1);
    return v;
  };
  text = trim(text);
  mailbox_address out;
  const auto open = text.rfind('<');
  if (!text.empty() && text.back() == '>' && open != std::string_view::npos) {
    auto name = trim(text.substr(0, open));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"')
      name = name.substr(1, name.size() - 2);
    for (unsigned char c : name)
      if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"')
        return std::nullopt;
    out.name = std::string(name);
    out.address = std::string(text.substr(open + 1, text.size() - open - 2));
  } else {
    out.address = std::string(text);
  }
  if (!valid_address(out.address))
    return std::nullopt;
  return out;
}

std::string rfc5322_date(std::int64_t time_ms) {
  static const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t secs = static_cast<std::time_t>(time_ms / 1000 - (time_ms % 1000 < 0 ? 1 : 0));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
                months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string render(const mail_message& m) {
  const auto to_address = header_safe(m.to_address);
  const auto to_name = header_safe(m.to_name);
  std::string out;
  const auto from_name = header_safe(m.from_name);
  out += header("From", from_name.empty() ? header_safe(m.from) : phrase(from_name) + " <" + header_safe(m.from) + ">");
  out += header("To", to_name.empty() ? to_address : phrase(to_name) + " <" + to_address + ">");
  out += header("Subject", unstructured(header_safe(m.subject, 400)));
  out += header("Date", rfc5322_date(m.date_ms));
  out += header("Message-ID", "<" + header_safe(m.message_id) + ">");
  out += header("MIME-Version", "1.0");
  out += header("Content-Type", "text/plain; charset=utf-8");
  bool ascii = true;
  for (const auto& l : m.body_lines)
    for (unsigned char c : l)
      ascii = ascii && c < 0x80;
  out += header("Content-Transfer-Encoding", ascii ? "7bit" : "8bit");
  out += header("X-Troupe-Booking", header_safe(m.booking_id));
  if (!m.outcome.empty())
    out += header("X-Troupe-Outcome", header_safe(m.outcome));
  out += "\r\n";
  for (const auto& l : m.body_lines) {
    for (char c : l)
      out += (c == '\r' || c == '\n') ? ' ' : c;
    out += "\r\n";
  }
  return out;
}

notification_service::notification_service(mailbox_address from, fs::path maildir_path, bool sync_writes)
    : from_(std::move(from)), domain_(domain_of(from_.address)), maildir_(std::move(maildir_path), sync_writes) {}

void mail_log::insert(email_record r) {
  if (r.seq == 0)
    r.seq = last_seq + 1;
  last_seq = std::max(last_seq, r.seq);
  if (auto old = by_booking.find(r.booking_id); old != by_booking.end())
    order.erase(old->second.seq);
  order[r.seq] = r.booking_id;
  by_booking[r.booking_id] = std::move(r);
}

void notification_service::restore(const std::string& table, const std::string& key, const nlohmann::json& value) {
  if (table != emails_table) {
    log_line(service_name, "", "restore: skipping unknown table " + table);
    return;
  }
  row_reader r(service_name, table, key, value);
  email_record e;
  e.booking_id = key;
  e.kind = r.text("kind");
  e.file = r.text("file");
  e.seq = r.positive("seq");
  if (!e.kind.empty() && e.kind != "confirmed" && e.kind != "cancelled")
    r.fail("kind", "must be confirmed or cancelled, not " + e.kind);
  if (e.seq != 0) {
    auto it = log_.order.find(e.seq);
    if (it != log_.order.end() && it->second != key)
      r.fail("seq", "also used by booking " + it->second);
  }
  r.check();
  log_.insert(std::move(e));
}

result<void> notification_service::make_ready() {
  if (auto r = maildir_.create(); !r)
    return r.err();
  auto files = maildir_.messages();
  if (!files)
    return files.err();
  on_disk_.clear();
  for (const auto& f : *files)
    if (auto key = mail_key_of_file(f.filename().string()))
      on_disk_.emplace(std::move(*key), f.string());
  ready_ = true;
  return {};
}

void notification_service::start() {
  if (auto r = make_ready(); !r)
    log_line(service_name, "", "maildir not ready: " + r.err().message);
}

handled notification_service::handle(const event_in& ev) {
  const auto& type = ev.envelope.detail_type;
  const bool confirmed = type == "TicketIssued";
  if (!confirmed && type != "BookingCancelled")
    return handled::permanent("notification does not handle " + type + " events");

  detail_reader d(ev.detail);
  const auto booking_id = d.text("booking_id");
  const auto customer = d.text("customer");
  const auto email = d.address("email");
  const auto flight = d.text("flight");
  std::string seat, ticket, reason;
  double amount = 0;
  if (confirmed) {
    seat = d.text("seat");
    ticket = d.text("ticket");
    amount = d.amount("amount");
  } else {
    reason = d.text("reason");
  }
  if (!d.ok())
    return handled::permanent(d.error());
  if (log_.by_booking.count(booking_id))
    return handled::ok();  // this booking has had its email

  mail_message m;
  m.from_name = from_.name;
  m.from = from_.address;
  m.to_name = customer;
  m.to_address = email;
  m.booking_id = booking_id;
  m.outcome = confirmed ? "confirmed" : "cancelled";
  m.date_ms = wire::now_ms();
  // One Message-ID per booking, like the file name: a copy of this message
  // could only ever be the same message.
  m.message_id = mail_key(booking_id) + ".troupe@" + domain_;
  const auto id = body_value(booking_id);
  m.body_lines.push_back("Hello " + body_value(customer) + ",");
  m.body_lines.push_back("");
  if (confirmed) {
    m.subject = "Booking " + header_safe(booking_id) + " confirmed: flight " + header_safe(flight) + ", seat " +
                header_safe(seat);
    m.body_lines.push_back("your booking " + id + " is confirmed.");
    m.body_lines.push_back("");
    m.body_lines.push_back("Flight: " + body_value(flight));
    m.body_lines.push_back("Seat:   " + body_value(seat));
    m.body_lines.push_back("Ticket: " + body_value(ticket));
    m.body_lines.push_back("Amount: " + format_amount(amount));
    m.body_lines.push_back("");
    m.body_lines.push_back("Have a good flight.");
  } else {
    m.subject = "Booking " + header_safe(booking_id) + " cancelled: " + header_safe(reason);
    m.body_lines.push_back("your booking " + id + " for flight " + body_value(flight) + " has been cancelled.");
    m.body_lines.push_back("");
    m.body_lines.push_back("Reason: " + body_value(reason));
    m.body_lines.push_back("");
    m.body_lines.push_back("If your card was charged, the amount has been refunded.");
  }
  return send(ev, booking_id, confirmed ? "confirmed" : "cancelled", std::move(m));
}

handled notification_service::send(const event_in& ev, const std::string& booking_id, const std::string& kind,
                                   mail_message m) {
  if (!ready_) {
    if (auto r = make_ready(); !r) {
      log_line(service_name, ev.envelope.correlation_id, "maildir not ready: " + r.err().message);
      return handled::transient(r.err().message);
    }
  }
  const auto key = mail_key(booking_id);
  if (auto found = on_disk_.find(key); found != on_disk_.end()) {
    // Written before a crash that lost the commit: sent, so only record it.
    log_line(service_name, ev.envelope.correlation_id,
             "email for " + booking_id + " was already sent as " + found->second + "; not sending it again");
    record(ev, booking_id, kind, found->second);
    return handled::ok();
  }
  const auto time_ms = ev.envelope.time_ms > 0 ? ev.envelope.time_ms : wire::now_ms();
  auto file = maildir_.deliver_as(mail_file_name(time_ms, booking_id), render(m));
  if (!file) {
    log_line(service_name, ev.envelope.correlation_id, "cannot write email: " + file.err().message);
    return handled::transient(file.err().message);
  }
  on_disk_[key] = file->string();  // on disk now, whatever happens to the commit
  log_line(service_name, ev.envelope.correlation_id, kind + " email for " + booking_id + " in " + file->string());
  record(ev, booking_id, kind, file->string());
  return handled::ok();
}

void notification_service::record(const event_in& ev, const std::string& booking_id, const std::string& kind,
                                  const std::string& file) {
  log_.insert(email_record{booking_id, kind, file, 0});
  const auto& e = log_.by_booking.at(booking_id);
  ev.state.put(emails_table, booking_id, {{"kind", e.kind}, {"file", e.file}, {"seq", e.seq}});
}

namespace {

constexpr std::size_t max_mails_per_page = 10000;

/// A page of the Maildir's messages for `troupe audit`: see "mails" above.
nlohmann::json mails_page(const fs::path& root, const nlohmann::json& args) {
  nlohmann::json out{{"maildir", root.string()}};
  const auto after = args.is_object() ? args.value("after", nlohmann::json("")) : nlohmann::json("");
  const auto limit = args.is_object() ? args.value("limit", nlohmann::json(1000)) : nlohmann::json(1000);
  if (!after.is_string() || !limit.is_number_integer() || limit.get<std::int64_t>() < 1
      || limit.get<std::int64_t>() > static_cast<std::int64_t>(max_mails_per_page)) {
    out["error"] = "mails takes {\"after\": a path, \"limit\": 1 to " + std::to_string(max_mails_per_page) + "}";
    return out;
  }
  std::error_code ec;
  if (!fs::exists(root, ec)) {
    out["mails"] = nlohmann::json::array();
    out["next"] = nullptr;
    return out;
  }
  auto page = read_mail_page(root, after.get<std::string>(), limit.get<std::size_t>());
  if (!page) {
    out["error"] = page.err().message;
    return out;
  }
  auto& mails = out["mails"] = nlohmann::json::array();
  for (const auto& m : page->mails)
    mails.push_back(to_json(m));
  out["next"] = page->next.empty() ? nlohmann::json() : nlohmann::json(page->next);
  return out;
}

} // namespace

nlohmann::json notification_service::query(const std::string& what, const nlohmann::json& args) const {
  if (what == "mails")
    return mails_page(maildir_.root(), args);
  if (what != "emails")
    return nullptr;
  auto rows = nlohmann::json::array();
  for (const auto& [seq, id] : log_.order) {
    (void)seq;
    const auto& e = log_.by_booking.at(id);
    rows.push_back({{"booking_id", e.booking_id}, {"kind", e.kind}, {"file", e.file}});
  }
  return rows;
}

std::unique_ptr<service> make_notification(const YAML::Node& settings, const service_context& ctx,
                                           cluster::diagnostics& diag) {
  const std::string where = "services.notification";
  settings_checker check(diag);
  mailbox_address from;
  fs::path dir = ctx.data_dir / "maildir";
  if (!settings.IsDefined() || settings.IsNull()) {
    check.add(settings, where + ": missing 'from'");
  } else if (check.map(settings, where, false)) {
    check.keys(settings, {"from", "maildir"}, where);
    if (auto f = settings_checker::child(settings, "from")) {
      if (auto s = check.text(*f, where + ".from")) {
        if (auto parsed = parse_mailbox(*s))
          from = std::move(*parsed);
        else
          check.add(*f, where + ".from: must be an email address containing '@', like bookings@example.com "
                                "or \"Bookings <bookings@example.com>\"");
      }
    } else {
      check.add(settings, where + ": missing 'from'");
    }
    if (auto md = settings_checker::child(settings, "maildir")) {
      if (auto s = check.text(*md, where + ".maildir")) {
        const fs::path p(*s);
        dir = p.is_absolute() ? p : ctx.config_dir / p;
        if (auto why = cluster::directory_problem(dir))
          check.add(*md, where + ".maildir: " + *why);
      }
    }
  }
  if (check.failed())
    return nullptr;
  return std::make_unique<notification_service>(std::move(from), dir.lexically_normal(), ctx.sync_writes);
}

} // namespace troupe::flight
