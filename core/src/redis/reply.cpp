// Reply accessors and formatting.
#include "redis/reply.hpp"

#include "redkeeper/error.hpp"

namespace redkeeper {
namespace {
[[noreturn]] void wrong_type(const char* wanted, Reply::Type got) {
  throw Error(ErrorCode::Protocol, std::string("redis reply: expected ") + wanted + ", got " +
                                       reply_type_name(got));
}

void append_debug(const Reply& r, std::string& out, int depth) {
  if (out.size() > 512) return;
  switch (r.type()) {
    case Reply::Type::Nil: out += "(nil)"; break;
    case Reply::Type::Integer: out += "(integer) " + std::to_string(r.as_integer()); break;
    case Reply::Type::Double: out += "(double) "; out += r.as_string(); break;
    case Reply::Type::Status: out += "+"; out += r.as_string(); break;
    case Reply::Type::Error: out += "-"; out += r.as_string(); break;
    case Reply::Type::String: {
      std::string_view s = r.as_string();
      out += '"';
      out += s.substr(0, 128);
      if (s.size() > 128) out += "...";
      out += '"';
      break;
    }
    case Reply::Type::Array: {
      out += '[';
      for (size_t i = 0; i < r.size(); ++i) {
        if (i) out += ", ";
        if (depth > 4 || out.size() > 512) { out += "..."; break; }
        append_debug(r.at(i), out, depth + 1);
      }
      out += ']';
      break;
    }
  }
}
}  // namespace

const char* reply_type_name(Reply::Type type) {
  switch (type) {
    case Reply::Type::Nil: return "nil";
    case Reply::Type::Integer: return "integer";
    case Reply::Type::String: return "string";
    case Reply::Type::Status: return "status";
    case Reply::Type::Error: return "error";
    case Reply::Type::Array: return "array";
    case Reply::Type::Double: return "double";
  }
  return "unknown";
}

int64_t Reply::as_integer() const {
  if (type_ != Type::Integer) wrong_type("integer", type_);
  return int_;
}

std::string_view Reply::as_string() const {
  if (type_ != Type::String && type_ != Type::Status && type_ != Type::Error && type_ != Type::Double) {
    wrong_type("string", type_);
  }
  return str_;
}

const std::vector<Reply>& Reply::as_array() const {
  if (type_ != Type::Array) wrong_type("array", type_);
  return elems_;
}

double Reply::as_double() const {
  if (type_ == Type::Double) return dbl_;
  if (type_ == Type::Integer) return static_cast<double>(int_);
  wrong_type("double", type_);
}

const Reply& Reply::at(size_t i) const {
  if (type_ != Type::Array) wrong_type("array", type_);
  if (i >= elems_.size()) {
    throw Error(ErrorCode::Protocol, "redis reply: array has " + std::to_string(elems_.size()) +
                                         " elements, wanted element " + std::to_string(i));
  }
  return elems_[i];
}

std::string Reply::debug_string() const {
  std::string out;
  append_debug(*this, out, 0);
  return out;
}

bool operator==(const Reply& a, const Reply& b) {
  if (a.type_ != b.type_) return false;
  switch (a.type_) {
    case Reply::Type::Nil: return true;
    case Reply::Type::Integer: return a.int_ == b.int_;
    case Reply::Type::Double: return a.str_ == b.str_;
    case Reply::Type::Array: return a.elems_ == b.elems_;
    default: return a.str_ == b.str_;
  }
}

}  // namespace redkeeper
