#include "actors/detail_reader.hpp"

#include <cmath>

namespace troupe {

detail_reader::detail_reader(const nlohmann::json& detail) : detail_(detail) {
  if (!detail_.is_object())
    error_ = "detail: must be an object";
}

const nlohmann::json* detail_reader::find(const char* field) {
  if (!detail_.is_object())
    return nullptr;  // already reported once for the whole detail
  auto it = detail_.find(field);
  if (it == detail_.end() || it->is_null()) {
    fail(field, "missing");
    return nullptr;
  }
  return &*it;
}

void detail_reader::fail(const char* field, const std::string& what) {
  if (!error_.empty())
    error_ += "; ";
  error_ += "detail.";
  error_ += field;
  error_ += ": ";
  error_ += what;
}

std::string detail_reader::text(const char* field) {
  const auto* v = find(field);
  if (!v)
    return {};
  if (!v->is_string()) {
    fail(field, std::string("must be a string, not ") + v->type_name());
    return {};
  }
  auto s = v->get<std::string>();
  if (s.empty())
    fail(field, "must not be empty");
  return s;
}

std::string detail_reader::any_text(const char* field) {
  const auto* v = find(field);
  if (!v)
    return {};
  if (!v->is_string()) {
    fail(field, std::string("must be a string, not ") + v->type_name());
    return {};
  }
  return v->get<std::string>();
}

double detail_reader::amount(const char* field) {
  const auto* v = find(field);
  if (!v)
    return 0;
  if (!v->is_number()) {
    fail(field, std::string("must be a number, not ") + v->type_name());
    return 0;
  }
  const auto x = v->get<double>();
  if (!std::isfinite(x) || x <= 0) {
    fail(field, "must be greater than 0");
    return 0;
  }
  return x;
}

std::string detail_reader::address(const char* field) {
  auto s = text(field);
  if (!s.empty() && !valid_address(s))
    fail(field, "must be an email address like name@example.com (one '@', no spaces or <>()[],;:\"\\)");
  return s;
}

bool valid_address(std::string_view a) {
  const auto at = a.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == a.size() ||
      a.find('@', at + 1) != std::string_view::npos)
    return false;
  for (unsigned char c : a) {
    if (c <= 0x20 || c == 0x7f)
      return false;
    switch (c) {
      case '<': case '>': case '(': case ')': case '[': case ']':
      case ',': case ';': case ':': case '"': case '\\':
        return false;
      default:
        break;
    }
  }
  return true;
}

} // namespace troupe
