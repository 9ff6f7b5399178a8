#include "actors/msgpack_json.hpp"

#include <stdexcept>

#include "wire/msgpack_io.hpp"

namespace troupe {

namespace {

// Builds the JSON value while msgpack-c parses the bytes (its visitor
// interface): one pass, no MessagePack tree in between, and the wire's
// limits for a detail checked on the way.
class json_builder : public msgpack::null_visitor {
public:
  nlohmann::json root;
  const char* problem = nullptr;
  bool short_of_bytes = false;

  bool visit_nil() { return place(nullptr); }
  bool visit_boolean(bool v) { return place(v); }
  bool visit_positive_integer(std::uint64_t v) { return place(v); }
  bool visit_negative_integer(std::int64_t v) { return place(v); }
  bool visit_float32(float v) { return place(static_cast<double>(v)); }
  bool visit_float64(double v) { return place(v); }
  bool visit_str(const char* v, std::uint32_t n) {
    if (!sized(n))
      return false;
    if (want_key_) {
      key_.assign(v, n);
      want_key_ = false;
      return true;
    }
    return place(std::string(v, n));
  }
  bool visit_bin(const char* v, std::uint32_t n) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(v);
    return sized(n) && place(nlohmann::json::binary(std::vector<std::uint8_t>(p, p + n)));
  }
  bool visit_ext(const char* v, std::uint32_t n) {
    // msgpack-c hands the type byte first, then the data.
    if (n == 0 || !sized(n))
      return fail("ext without its type");
    const auto* p = reinterpret_cast<const std::uint8_t*>(v);
    return place(nlohmann::json::binary(std::vector<std::uint8_t>(p + 1, p + n), p[0]));
  }
  bool start_array(std::uint32_t n) {
    if (!container(n) || !place(nlohmann::json::array()))
      return false;
    stack_.back()->get_ref<nlohmann::json::array_t&>().reserve(n);
    return true;
  }
  bool start_map(std::uint32_t n) { return container(n) && place(nlohmann::json::object()); }
  bool start_map_key() {
    want_key_ = true;
    return true;
  }
  bool end_map_key() {
    if (want_key_)
      return fail("MessagePack map key is not a string");
    return true;
  }
  bool end_array() { return pop(); }
  bool end_map() { return pop(); }
  void parse_error(std::size_t, std::size_t) { fail("not MessagePack"); }
  void insufficient_bytes(std::size_t, std::size_t) { short_of_bytes = true; }

private:
  bool fail(const char* why) {
    if (!problem)
      problem = why;
    return false;
  }
  bool sized(std::uint32_t n) { return n <= wire::detail_limits.bytes || fail("over the size limit"); }
  bool container(std::uint32_t n) {
    if (stack_.size() + 1 > wire::detail_limits.depth)
      return fail("nested too deeply");
    return n <= wire::detail_limits.items || fail("over the size limit");
  }
  bool pop() {
    stack_.pop_back();
    return true;
  }
  /// Puts `v` where the parse is: the root, the next array element, or the
  /// value of the key just read. A container placed becomes the one that
  /// later values go into, until it ends. (A pointer into a parent stays
  /// valid: nothing is added to the parent until the child has ended.)
  bool place(nlohmann::json&& v) {
    if (want_key_)
      return fail("MessagePack map key is not a string");
    const bool is_container = v.is_array() || v.is_object();
    nlohmann::json* at = nullptr;
    if (stack_.empty()) {
      root = std::move(v);
      at = &root;
    } else if (auto* parent = stack_.back(); parent->is_array()) {
      auto& items = parent->get_ref<nlohmann::json::array_t&>();
      items.push_back(std::move(v));
      at = &items.back();
    } else {
      auto& slot = parent->get_ref<nlohmann::json::object_t&>()[key_];
      slot = std::move(v);  // a repeated key keeps its last value
      at = &slot;
    }
    if (is_container)
      stack_.push_back(at);
    return true;
  }

  std::vector<nlohmann::json*> stack_;
  std::string key_;
  bool want_key_ = false;
};

} // namespace

nlohmann::json json_from_msgpack(std::string_view bytes) {
  json_builder b;
  std::size_t off = 0;
  bool ok = false;
  try {
    ok = !bytes.empty() && msgpack::parse(bytes.data(), bytes.size(), off, b);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("detail: not MessagePack (") + e.what() + ")");
  }
  if (b.problem)
    throw std::runtime_error(std::string("detail: ") + b.problem);
  if (!ok)
    throw std::runtime_error(bytes.empty() || b.short_of_bytes ? "detail: truncated" : "detail: not MessagePack");
  if (off != bytes.size())
    throw std::runtime_error("detail: " + std::to_string(bytes.size() - off) + " bytes after the value");
  return std::move(b.root);
}

} // namespace troupe
