#include "avemotion/segment_scan.h"

#include <array>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace avemotion {
namespace {

// Slicing-by-8 tables for the reflected CRC-32 polynomial 0xEDB88320 (zlib's).
struct CrcTables {
  std::array<std::array<uint32_t, 256>, 8> t{};
  CrcTables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1U) ? (0xEDB88320U ^ (c >> 1)) : (c >> 1);
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFFU];
    }
  }
};

const CrcTables& Tables() {
  static const CrcTables tables;
  return tables;
}

constexpr std::array<bool, 256> MakeIdChars() {
  std::array<bool, 256> ok{};
  for (int c = 0; c < 256; ++c) {
    ok[c] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  }
  return ok;
}
constexpr std::array<bool, 256> kIdChar = MakeIdChars();

inline bool IdChar(unsigned char c) { return kIdChar[c]; }
inline bool Digit(unsigned char c) { return c >= '0' && c <= '9'; }

// NUM ", *" at p; returns the position after the spaces or npos-like nullptr on failure.
inline const char* NumberComma(const char* p, const char* e) {
  const char* q = p;
  while (q < e && Digit(static_cast<unsigned char>(*q))) ++q;
  if (q == p) return nullptr;
  if (q < e && *q == '.') {
    ++q;
    while (q < e && Digit(static_cast<unsigned char>(*q))) ++q;
  }
  if (q >= e || *q != ',') return nullptr;
  ++q;
  while (q < e && *q == ' ') ++q;
  return q;
}

}  // namespace

size_t SegmentScanner::head_hash(uint64_t head) { return static_cast<size_t>((head * 0x9E3779B97F4A7C15ULL) >> 48); }

uint32_t Crc32(std::string_view data, uint32_t value) {
  const auto& t = Tables().t;
  uint32_t c = ~value;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  while (n >= 8) {
    uint32_t lo;
    uint32_t hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= c;  // little-endian load (x86/ARM)
    c = t[7][lo & 0xFFU] ^ t[6][(lo >> 8) & 0xFFU] ^ t[5][(lo >> 16) & 0xFFU] ^ t[4][lo >> 24] ^
        t[3][hi & 0xFFU] ^ t[2][(hi >> 8) & 0xFFU] ^ t[1][(hi >> 16) & 0xFFU] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) c = t[0][(c ^ *p++) & 0xFFU] ^ (c >> 8);
  return ~c;
}

bool SegmentLineValid(std::string_view line) {
  const char* p = line.data();
  const char* e = p + line.size();
  if (p == e) return true;
  if (*p == '#') return true;
  bool blank = true;
  for (const char* q = p; q < e; ++q) {
    if (*q != ' ' && *q != '\t' && *q != '\r') {
      blank = false;
      break;
    }
  }
  if (blank) return true;
  if (e - p < 11) return false;
  for (int i = 0; i < 11; ++i) {
    if (!IdChar(static_cast<unsigned char>(p[i]))) return false;
  }
  p += 11;
  if (p >= e || *p != ',') return false;
  ++p;
  while (p < e && *p == ' ') ++p;
  if ((p = NumberComma(p, e)) == nullptr) return false;
  if ((p = NumberComma(p, e)) == nullptr) return false;
  if (p >= e || *p != '"') return false;
  ++p;
  p = static_cast<const char*>(std::memchr(p, '"', static_cast<size_t>(e - p)));
  if (p == nullptr) return false;
  ++p;  // closing quote
  while (p < e && *p == ' ') ++p;
  if (p < e && *p == '\r') ++p;
  return p == e;
}

SegmentScanner::SegmentScanner(std::vector<std::string> needles, std::vector<std::string> ids,
                               uint32_t crc_seed, uint64_t crc_limit, bool check_grammar)
    : needles_(std::move(needles)),
      id_storage_(std::move(ids)),
      crc_seed_(crc_seed),
      crc_limit_(crc_limit),
      check_grammar_(check_grammar) {
  for (size_t i = 0; i < needles_.size(); ++i) {
    if (needles_[i].empty()) {
      throw std::invalid_argument("needles[" + std::to_string(i) + "]: expected a non-empty string, got ''");
    }
  }
  for (const auto& n : needles_) {
    first_byte_[static_cast<unsigned char>(n[0])] = true;
    uint64_t head = 0;
    const size_t k = n.size() < 8 ? n.size() : 8;
    std::memcpy(&head, n.data(), k);
    head_.push_back(head);
    head_mask_.push_back(k == 8 ? ~uint64_t{0} : ((uint64_t{1} << (8 * k)) - 1));
  }
  all_long_ = !needles_.empty();
  for (size_t i = 0; i < needles_.size(); ++i) {
    if (needles_[i].size() < 8) all_long_ = false;
  }
  if (all_long_) {
    for (const uint64_t h : head_) head_filter_[head_hash(h)] = true;
  }
  if (!needles_.empty()) {
    single_first_ = static_cast<unsigned char>(needles_[0][0]);
    for (const auto& n : needles_) {
      if (static_cast<unsigned char>(n[0]) != single_first_) single_first_ = -1;
    }
  }
  ids_.reserve(id_storage_.size());
  for (size_t i = 0; i < id_storage_.size(); ++i) {
    if (id_storage_[i].size() != 11) {
      throw std::invalid_argument("ids[" + std::to_string(i) + "]: expected 11 bytes, got " +
                                  std::to_string(id_storage_[i].size()) + " ('" + id_storage_[i] + "')");
    }
    ids_.insert(std::string_view(id_storage_[i]));
  }
}

bool SegmentScanner::contains_needle(std::string_view text) const {
  if (needles_.empty()) return false;
  const char* p = text.data();
  const char* e = p + text.size();
  for (; p < e; ++p) {
    if (single_first_ >= 0) {  // all needles start with one byte: let memchr find it
      p = static_cast<const char*>(std::memchr(p, single_first_, static_cast<size_t>(e - p)));
      if (p == nullptr) return false;
    } else if (!first_byte_[static_cast<unsigned char>(*p)]) {
      continue;
    }
    const size_t left = static_cast<size_t>(e - p);
    uint64_t head = 0;
    std::memcpy(&head, p, left < 8 ? left : 8);
    if (all_long_ && !head_filter_[head_hash(head)]) continue;  // no needle starts here
    for (size_t i = 0; i < needles_.size(); ++i) {
      const std::string& n = needles_[i];
      if (n.size() > left) continue;
      if ((head & head_mask_[i]) != head_[i]) continue;
      if (n.size() <= 8 || std::memcmp(p + 8, n.data() + 8, n.size() - 8) == 0) return true;
    }
  }
  return false;
}

SegmentBlockScan SegmentScanner::scan(std::string_view block) const {
  SegmentBlockScan out;
  if (block.empty()) return out;
  if (block.back() != '\n') {
    throw std::invalid_argument("block: expected whole lines ending in '\\n', got a block of " +
                                std::to_string(block.size()) + " bytes ending in byte " +
                                std::to_string(static_cast<unsigned char>(block.back())));
  }
  const char* base = block.data();
  const char* end = base + block.size();
  const char* p = base;
  uint64_t line = 0;
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const std::string_view text(p, static_cast<size_t>(nl - p));
    if (!text.empty() && text[0] == '#') ++out.comments;
    if (check_grammar_ && out.first_invalid < 0 && !SegmentLineValid(text)) {
      out.first_invalid = static_cast<int64_t>(line);
    }
    uint32_t flags = contains_needle(text) ? kPickHit : 0U;
    if (crc_limit_ != 0 && Crc32(text, crc_seed_) < crc_limit_) flags |= kPickSampled;
    if (!ids_.empty() && text.size() >= 11 && ids_.count(text.substr(0, 11)) != 0) flags |= kPickId;
    if (flags != 0) {
      out.picks.push_back({line, static_cast<uint64_t>(p - base), static_cast<uint64_t>(nl - base), flags});
    }
    ++line;
    p = nl + 1;
  }
  out.lines = line;
  return out;
}

}  // namespace avemotion
