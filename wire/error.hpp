// Errors as values for the wire layer, which does not depend on CAF.
//
// `result<T>` holds either a value or an `error` naming what went wrong;
// the codec, the config loader and the sockets return it instead of
// throwing, so that every caller sees failures in the type.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace troupe {

enum class errc {
  truncated,        // the bytes end inside a value
  trailing_bytes,   // bytes left after the value
  not_msgpack,      // not valid MessagePack
  wrong_shape,      // valid MessagePack, not the expected structure
  bad_version,      // a format version this build does not read
  invalid_field,    // a field with a value out of its domain
  too_large,        // over a decoding limit
  io,               // a socket or file operation failed
  config,           // a configuration problem
};

const char* to_string(errc code);

/// An error of the wire, the store, the config loader or the CLI's
/// clients. Each module that has errors of another kind (the rules'
/// pattern_error) gives them the same two things: what is wrong, and
/// whether trying again may help.
struct error {
  errc code;
  std::string message;

  std::string to_string() const;
  /// Whether the same call may succeed later (a socket or file that failed
  /// for now); bytes, shapes and configs that are wrong stay wrong.
  bool retryable() const { return code == errc::io; }
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

} // namespace troupe

/// Returns the error of `expr` (a result) from the enclosing function, which
/// returns a result too.
#define TROUPE_TRY(expr)  \
  do {                    \
    auto&& r_ = (expr);   \
    if (!r_)              \
      return r_.err();    \
  } while (false)
