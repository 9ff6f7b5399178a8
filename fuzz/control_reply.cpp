// The control reply decoder (wire/control.hpp) on arbitrary bytes, as a
// client reads what a node answers. The first byte picks the verb the
// client asked (put, query, status or read: a put's and a read's replies
// have bodies of their own), the rest is the reply. No crash, no exception, no read out of
// bounds; a reply it accepts encodes and decodes to the same reply, and
// its encoding is stable.
#include <string>

#include "fuzz/check.hpp"
#include "wire/control.hpp"

using namespace troupe;

namespace {

bool same(const wire::control_reply& a, const wire::control_reply& b) {
  if (a.ok != b.ok || a.body != b.body || a.results.size() != b.results.size())
    return false;
  const auto &p = a.page, &q = b.page;
  if (p.next != q.next || p.inbox != q.inbox || p.rows.size() != q.rows.size() || p.outbox.size() != q.outbox.size())
    return false;
  for (std::size_t i = 0; i < p.rows.size(); ++i)
    if (!(p.rows[i].at == q.rows[i].at) || p.rows[i].value != q.rows[i].value)
      return false;
  for (std::size_t i = 0; i < p.outbox.size(); ++i) {
    const auto &x = p.outbox[i], &y = q.outbox[i];
    if (x.stream != y.stream || x.unacked != y.unacked || x.expired != y.expired)
      return false;
  }
  for (std::size_t i = 0; i < a.results.size(); ++i) {
    const auto &x = a.results[i], &y = b.results[i];
    if (x.id != y.id || x.error_code != y.error_code || x.error_message != y.error_message)
      return false;
  }
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  static const std::string verbs[] = {"put", "query", "status", "read"};
  const auto& verb = verbs[data[0] % 4];
  const auto in = fuzz::bytes_of(data + 1, size - 1);
  auto r = wire::decode_reply(in, verb);
  if (!r) {
    FUZZ_CHECK(!r.err().message.empty());
    return 0;
  }
  FUZZ_CHECK(r->results.empty() || (r->ok && verb == "put"));
  const auto& page = r->page;
  FUZZ_CHECK((page.rows.empty() && !page.next && page.inbox == 0 && page.outbox.empty()) || (r->ok && verb == "read"));
  FUZZ_CHECK(page.rows.size() <= wire::max_read_rows);
  const auto once = wire::encode_reply(*r, verb);
  FUZZ_CHECK(once.size() <= in.size());
  auto again = wire::decode_reply(once, verb);
  FUZZ_CHECK(again);
  FUZZ_CHECK(same(*again, *r));
  FUZZ_CHECK(wire::encode_reply(*again, verb) == once);
  return 0;
}
