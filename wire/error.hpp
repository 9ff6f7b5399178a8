// Errors as values, one style for every module.
//
// `result<T>` holds either a value or an `error` saying what went wrong.
// The error's code is a std::error_code whose category is the module that
// failed, and whose value is that module's own enum: wire::errc (bytes and
// sockets), store::errc, cluster::errc (configs), runtime::errc, cli::errc,
// flight::errc. So a store error that travels up through the runtime still
// says it came from the store, and code compares with any module's enum:
// `r.err().code == wire::errc::truncated`. Each module's category says which
// of its codes are worth trying again (error::retryable). The rules' patterns
// have their own error type, pattern_error, with a path into the pattern.
#pragma once

#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace troupe {

/// The category of one module's error codes: its name, each code's name,
/// and whether trying again may help.
class error_category : public std::error_category {
 public:
  /// Whether the same call may succeed later (a socket or file that failed
  /// for now); bytes, shapes and configs that are wrong stay wrong.
  virtual bool retryable(int code) const = 0;
};

struct error {
  std::error_code code;
  std::string message;

  /// "code: message", e.g. "truncated: envelope field 'id': truncated".
  std::string to_string() const;
  /// What the code's module says of it; false for a code of another kind.
  bool retryable() const;
};

/// A value, or the error `E` saying why there is none: the one way the
/// project's modules report failure. Library exceptions are caught where
/// the library is called and become errors; only a service's handler may
/// throw, which the runtime takes as a crash.
template <class T, class E = error>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::move(value)) {}
  result(E e) : v_(std::move(e)) {}

  explicit operator bool() const { return v_.index() == 0; }
  T& operator*() { return std::get<0>(v_); }
  const T& operator*() const { return std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  const E& err() const { return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] result<void, E> {
 public:
  result() = default;
  result(E e) : e_(std::move(e)), ok_(false) {}

  explicit operator bool() const { return ok_; }
  const E& err() const { return e_; }

 private:
  E e_{};
  bool ok_ = true;
};

namespace detail {

/// One module's category: `Codes` gives its name, each code's name, and
/// which codes are retryable (see the modules' error headers).
template <class Codes>
class module_category final : public error_category {
 public:
  const char* name() const noexcept override { return Codes::module; }
  std::string message(int code) const override { return Codes::name(code); }
  bool retryable(int code) const override { return Codes::retryable(code); }
};

} // namespace detail

} // namespace troupe

/// Returns the error of `expr` (a result) from the enclosing function, which
/// returns a result too.
#define TROUPE_TRY(expr)  \
  do {                    \
    auto&& r_ = (expr);   \
    if (!r_)              \
      return r_.err();    \
  } while (false)

/// Makes `ENUM` (a module's enum class of error codes, in namespace `NS`)
/// an error code: `CODES` is a struct with `static constexpr const char*
/// module`, `static const char* name(int)` and `static bool retryable(int)`.
#define TROUPE_ERROR_CODES(NS, ENUM, CODES)                                                        \
  namespace NS {                                                                                     \
  const ::troupe::error_category& error_category_of(ENUM);                                           \
  inline std::error_code make_error_code(ENUM e) { return {static_cast<int>(e), error_category_of(e)}; } \
  }                                                                                                  \
  template <>                                                                                        \
  struct std::is_error_code_enum<NS::ENUM> : std::true_type {}

/// Defines the category that TROUPE_ERROR_CODES declared, in one .cpp file.
#define TROUPE_ERROR_CATEGORY(NS, ENUM, CODES)                                \
  const ::troupe::error_category& NS::error_category_of(ENUM) {              \
    static const ::troupe::detail::module_category<CODES> category;          \
    return category;                                                         \
  }

namespace troupe::wire {

/// The wire's errors: bytes that cannot be read, and sockets.
enum class errc {
  truncated,        // the bytes end inside a value
  trailing_bytes,   // bytes left after the value
  not_msgpack,      // not valid MessagePack
  wrong_shape,      // valid MessagePack, not the expected structure
  bad_version,      // a format version this build does not read
  invalid_field,    // a field with a value out of its domain
  too_large,        // over a decoding limit
  io,               // a socket operation failed or timed out (retryable)
  unauthorized,     // the peer turned this key away: asking again cannot help
};

struct errc_codes {
  static constexpr const char* module = "wire";
  static const char* name(int code);
  static bool retryable(int code) { return code == static_cast<int>(errc::io); }
};

} // namespace troupe::wire

TROUPE_ERROR_CODES(troupe::wire, errc, errc_codes);
