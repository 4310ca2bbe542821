// An owned Redis reply (nil, integer, bytes, status, error, array, double): what callers of the
// low-level command API receive. Independent of hiredis, so it can cross threads and outlive the reader.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace redkeeper {

class Reply {
 public:
  enum class Type { Nil, Integer, String, Status, Error, Array, Double };

  Reply() = default;  // nil
  static Reply nil() { return Reply(); }
  static Reply integer(int64_t v) { Reply r(Type::Integer); r.int_ = v; return r; }
  static Reply string(std::string v) { Reply r(Type::String); r.str_ = std::move(v); return r; }
  static Reply status(std::string v) { Reply r(Type::Status); r.str_ = std::move(v); return r; }
  static Reply error(std::string v) { Reply r(Type::Error); r.str_ = std::move(v); return r; }
  static Reply array(std::vector<Reply> v) { Reply r(Type::Array); r.elems_ = std::move(v); return r; }
  static Reply double_value(double v, std::string text) {
    Reply r(Type::Double); r.dbl_ = v; r.str_ = std::move(text); return r;
  }

  Type type() const noexcept { return type_; }
  bool is_nil() const noexcept { return type_ == Type::Nil; }
  bool is_integer() const noexcept { return type_ == Type::Integer; }
  bool is_string() const noexcept { return type_ == Type::String; }
  bool is_status() const noexcept { return type_ == Type::Status; }
  bool is_error() const noexcept { return type_ == Type::Error; }
  bool is_array() const noexcept { return type_ == Type::Array; }
  bool is_double() const noexcept { return type_ == Type::Double; }

  // Typed accessors: throw Error(Protocol) when the reply has another type, so a script returning
  // something unexpected becomes a typed error rather than undefined behaviour.
  int64_t as_integer() const;
  // String, status, error and double replies: the raw bytes.
  std::string_view as_string() const;
  const std::vector<Reply>& as_array() const;
  double as_double() const;
  // Element i of an array reply; throws Error(Protocol) when out of range or not an array.
  const Reply& at(size_t i) const;
  size_t size() const noexcept { return elems_.size(); }

  // Status "OK" check, for SET/SELECT-style commands.
  bool is_ok() const noexcept { return type_ == Type::Status && str_ == "OK"; }

  // Human-readable, for test failures and error messages (bounded length).
  std::string debug_string() const;

  // Moves the bytes out (string/status/error/double).
  std::string take_string() { return std::move(str_); }

  friend bool operator==(const Reply& a, const Reply& b);
  friend bool operator!=(const Reply& a, const Reply& b) { return !(a == b); }

 private:
  explicit Reply(Type t) : type_(t) {}
  Type type_ = Type::Nil;
  int64_t int_ = 0;
  double dbl_ = 0;
  std::string str_;
  std::vector<Reply> elems_;
};

const char* reply_type_name(Reply::Type type);

}  // namespace redkeeper
