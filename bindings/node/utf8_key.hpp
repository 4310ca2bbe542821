// A JS string key's UTF-8 bytes, encoded here from V8's UTF-16 copy (V8's own UTF-8 writer was the
// costliest step of a memory:// hit, while its UTF-16 copy of a one-byte string is a plain widening
// copy). A lone surrogate has no UTF-8 spelling: the key is refused, as the Python package refuses
// it, rather than silently mapped to U+FFFD (two different strings would then share a key).
#pragma once

#include <node_api.h>

#include <cstddef>
#include <string_view>

namespace redkeeper_node {

// The refusal every string-key path gives (the Python package's words).
inline constexpr const char* kLoneSurrogate = "is not encodable as UTF-8 (lone surrogate?)";

class Utf8Key {
 public:
  enum class Status { Ok, TooLong, LoneSurrogate, NotAString };

  Status read(napi_env env, napi_value value) {
    size_t units = 0;
    if (napi_get_value_string_utf16(env, value, u16_, kMaxUnits + 1, &units) != napi_ok) return Status::NotAString;
    if (units >= kMaxUnits) return Status::TooLong;
    char* out = bytes_;
    for (size_t i = 0; i < units; ++i) {
      const uint32_t c = u16_[i];
      if (c < 0x80) {
        *out++ = static_cast<char>(c);
      } else if (c < 0x800) {
        *out++ = static_cast<char>(0xC0 | (c >> 6));
        *out++ = static_cast<char>(0x80 | (c & 0x3F));
      } else if (c >= 0xD800 && c <= 0xDFFF) {
        if (c > 0xDBFF || i + 1 >= units || u16_[i + 1] < 0xDC00 || u16_[i + 1] > 0xDFFF) {
          return Status::LoneSurrogate;
        }
        const uint32_t cp = 0x10000 + ((c - 0xD800) << 10) + (u16_[i + 1] - 0xDC00);
        ++i;
        *out++ = static_cast<char>(0xF0 | (cp >> 18));
        *out++ = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        *out++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        *out++ = static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        *out++ = static_cast<char>(0xE0 | (c >> 12));
        *out++ = static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        *out++ = static_cast<char>(0x80 | (c & 0x3F));
      }
    }
    size_ = static_cast<size_t>(out - bytes_);
    return Status::Ok;
  }
  std::string_view view() const { return std::string_view(bytes_, size_); }

 private:
  // Past the 1 KiB key limit in any encoding, so every valid key fits.
  static constexpr size_t kMaxUnits = 1100;
  char16_t u16_[kMaxUnits + 1];
  char bytes_[kMaxUnits * 3];
  size_t size_ = 0;
};

}  // namespace redkeeper_node
