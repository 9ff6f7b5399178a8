#include "actors/row_reader.hpp"

#include <cmath>

namespace troupe {

void fail_restore(const char* service, const std::string& table, const std::string& key, const std::string& why) {
  throw restore_error(std::string("restore ") + service + ": " + table + "/" + key + ": " + why);
}

row_reader::row_reader(const char* service, const std::string& table, const std::string& key,
                       const nlohmann::json& row)
    : service_(service), table_(table), key_(key), row_(row) {
  if (!row_.is_object())
    error_ = std::string("row: must be an object, not ") + row_.type_name();
}

void row_reader::fail(const char* field, const std::string& what) {
  if (!error_.empty())
    error_ += "; ";
  error_ += field;
  error_ += ": ";
  error_ += what;
}

const nlohmann::json* row_reader::find(const char* field) {
  if (!row_.is_object())
    return nullptr;  // reported once for the whole row
  auto it = row_.find(field);
  if (it == row_.end() || it->is_null()) {
    fail(field, "missing");
    return nullptr;
  }
  return &*it;
}

std::string row_reader::text(const char* field) {
  const auto* v = find(field);
  if (!v)
    return {};
  if (!v->is_string() || v->get_ref<const std::string&>().empty()) {
    fail(field, "must be a non-empty string");
    return {};
  }
  return v->get<std::string>();
}

std::optional<std::string> row_reader::optional_text(const char* field) {
  if (!row_.is_object())
    return std::nullopt;
  auto it = row_.find(field);
  if (it == row_.end() || it->is_null())
    return std::nullopt;
  if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
    fail(field, "must be a non-empty string or null");
    return std::nullopt;
  }
  return it->get<std::string>();
}

double row_reader::number(const char* field) {
  const auto* v = find(field);
  if (!v)
    return 0;
  if (!v->is_number() || !std::isfinite(v->get<double>())) {
    fail(field, "must be a finite number");
    return 0;
  }
  return v->get<double>();
}

std::int64_t row_reader::integer(const char* field) {
  const auto* v = find(field);
  if (!v)
    return 0;
  if (!v->is_number_integer()) {
    fail(field, "must be an integer");
    return 0;
  }
  return v->get<std::int64_t>();
}

std::uint64_t row_reader::positive(const char* field) {
  const auto* v = find(field);
  if (!v)
    return 0;
  // JSON text does not say signed or unsigned: accept either reading.
  const bool ok = v->is_number_unsigned() ? v->get<std::uint64_t>() >= 1
                                          : v->is_number_integer() && v->get<std::int64_t>() >= 1;
  if (!ok) {
    fail(field, "must be an integer of at least 1");
    return 0;
  }
  return v->get<std::uint64_t>();
}

void row_reader::check() const {
  if (!error_.empty())
    fail_restore(service_, table_, key_, error_);
}

} // namespace troupe
