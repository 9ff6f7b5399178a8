#include "actors/msgpack_json.hpp"

#include <stdexcept>

#include "wire/msgpack_io.hpp"

namespace troupe {

namespace {

nlohmann::json convert(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL:
      return nullptr;
    case msgpack::type::BOOLEAN:
      return o.via.boolean;
    case msgpack::type::POSITIVE_INTEGER:
      return o.via.u64;
    case msgpack::type::NEGATIVE_INTEGER:
      return o.via.i64;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return o.via.f64;
    case msgpack::type::STR:
      return std::string(o.via.str.ptr, o.via.str.size);
    case msgpack::type::BIN: {
      const auto* p = reinterpret_cast<const std::uint8_t*>(o.via.bin.ptr);
      return nlohmann::json::binary(std::vector<std::uint8_t>(p, p + o.via.bin.size));
    }
    case msgpack::type::EXT: {
      const auto* p = reinterpret_cast<const std::uint8_t*>(o.via.ext.data());
      return nlohmann::json::binary(std::vector<std::uint8_t>(p, p + o.via.ext.size),
                                    static_cast<std::uint8_t>(o.via.ext.type()));
    }
    case msgpack::type::ARRAY: {
      auto out = nlohmann::json::array();
      auto& items = out.get_ref<nlohmann::json::array_t&>();
      items.reserve(o.via.array.size);
      for (std::uint32_t i = 0; i < o.via.array.size; ++i)
        items.push_back(convert(o.via.array.ptr[i]));
      return out;
    }
    case msgpack::type::MAP: {
      auto out = nlohmann::json::object();
      auto& fields = out.get_ref<nlohmann::json::object_t&>();
      for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
        const auto& kv = o.via.map.ptr[i];
        if (kv.key.type != msgpack::type::STR)
          throw std::runtime_error("MessagePack map key is not a string");
        fields.insert_or_assign(std::string(kv.key.via.str.ptr, kv.key.via.str.size),
                                convert(kv.val));
      }
      return out;
    }
  }
  throw std::runtime_error("MessagePack value of an unknown type");
}

} // namespace

nlohmann::json json_from_msgpack(std::string_view bytes) {
  auto oh = wire::read_exactly_one(bytes, wire::detail_limits, "detail");
  if (!oh)
    throw std::runtime_error(oh.err().message);
  return convert(oh->get());
}

} // namespace troupe
