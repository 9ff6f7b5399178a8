// The envelope decoder (wire/envelope.hpp) on arbitrary bytes, as every
// subscriber reads what arrives on its SUB sockets: no crash, no exception,
// no read out of bounds, and an error that says something. What it accepts
// the encoder takes (it refuses nothing a receiver would accept), decodes
// to the same envelope again, and encodes to the same bytes a second time,
// never larger than the input (the encoder writes the shortest forms).
#include <string>

#include "fuzz/check.hpp"
#include "wire/envelope.hpp"

using namespace troupe;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = fuzz::bytes_of(data, size);
  auto e = wire::decode(in);
  if (!e) {
    FUZZ_CHECK(!e.err().message.empty());
    return 0;
  }
  std::string once;
  FUZZ_CHECK(wire::encode(*e, once));
  FUZZ_CHECK(once.size() <= in.size());
  auto again = wire::decode(once);
  FUZZ_CHECK(again);
  FUZZ_CHECK(*again == *e);
  std::string twice;
  FUZZ_CHECK(wire::encode(*again, twice, wire::detail_check::done));
  FUZZ_CHECK(twice == once);
  return 0;
}
