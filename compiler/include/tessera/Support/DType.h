//===- DType.h - Element types shared by every layer ------------*- C++ -*-===//
//
// The element types a Tessera tensor or tile can hold, with host-side
// conversions for the 16-bit floating-point formats (round to nearest even).
// Header-only and free of MLIR and CUDA, so every layer can use it.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_SUPPORT_DTYPE_H
#define TESSERA_SUPPORT_DTYPE_H

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace tessera {

enum class DType : uint8_t { F32, F16, BF16, I32, I1 };

/// Bytes one element occupies in memory (i1 is stored as one byte).
constexpr size_t byteSize(DType t) {
  switch (t) {
  case DType::F32:
  case DType::I32:
    return 4;
  case DType::F16:
  case DType::BF16:
    return 2;
  case DType::I1:
    return 1;
  }
  return 0;
}

constexpr std::string_view name(DType t) {
  switch (t) {
  case DType::F32:
    return "f32";
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  case DType::I32:
    return "i32";
  case DType::I1:
    return "i1";
  }
  return "?";
}

inline std::optional<DType> parseDType(std::string_view s) {
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::I32, DType::I1})
    if (name(t) == s)
      return t;
  return std::nullopt;
}

constexpr bool isFloat(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// --- Host conversions of the 16-bit formats -------------------------------

inline uint32_t floatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// fp32 -> bf16 bits, round to nearest even; NaN stays NaN.
inline uint16_t floatToBF16(float f) {
  uint32_t u = floatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
inline float bf16ToFloat(uint16_t h) { return bitsFloat(uint32_t(h) << 16); }

/// fp32 -> IEEE binary16 bits, round to nearest even, with subnormals,
/// overflow to infinity and NaN preserved.
inline uint16_t floatToF16(float f) {
  uint32_t u = floatBits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t absu = u & 0x7fffffffu;
  if (absu > 0x7f800000u)
    return uint16_t(sign | 0x7e00u);
  if (absu >= 0x477ff000u) // rounds to >= 65520: infinity
    return uint16_t(sign | 0x7c00u);
  if (absu < 0x38800000u) { // below the smallest normal half: subnormal or zero
    float a = bitsFloat(absu);
    // a * 2^24 rounded to nearest even gives the subnormal mantissa.
    float scaled = a * 16777216.0f;
    uint32_t m = uint32_t(scaled);
    float rem = scaled - float(m);
    if (rem > 0.5f || (rem == 0.5f && (m & 1u)))
      ++m;
    return uint16_t(sign | m);
  }
  uint32_t exp = ((absu >> 23) - 127 + 15) << 10;
  uint32_t mant = absu & 0x7fffffu;
  uint32_t half = exp | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u)))
    ++half; // may carry into the exponent, which is the right result
  return uint16_t(sign | half);
}

inline float f16ToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    float v = float(mant) * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  if (exp == 31)
    return bitsFloat(sign | 0x7f800000u | (mant << 13));
  return bitsFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

/// Rounds a float to the nearest value representable in `t` (floats only).
inline float roundTo(DType t, float f) {
  switch (t) {
  case DType::F16:
    return f16ToFloat(floatToF16(f));
  case DType::BF16:
    return bf16ToFloat(floatToBF16(f));
  default:
    return f;
  }
}

} // namespace tessera

#endif // TESSERA_SUPPORT_DTYPE_H
