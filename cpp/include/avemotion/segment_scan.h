// Line scanner for AudioSet segment CSVs (balanced/unbalanced/eval_segments.csv).
//
// A block is UTF-8 text made of whole lines, each ending in '\n' (the caller cuts reads at the last
// newline). Lines are numbered from 0 within the block; a line's text excludes its '\n' (a '\r'
// before it is kept). For every line the scanner decides, in one pass and without allocating per
// line:
//   - comment: starts with '#';
//   - row grammar (when check_grammar): a line is valid when it is blank (only ' ', '\t', '\r'), a
//     comment, or exactly  ID{11} ", *" NUM ", *" NUM ", *" '"' [^"]* '"' " *" "\r"?  where ID is
//     [A-Za-z0-9_-] and NUM is [0-9]+(\.[0-9]*)? (the regex the Python reference uses);
//   - hit: the line contains one of `needles` as a substring (the laughter MIDs);
//   - sampled: CRC-32 (zlib's, continued from `crc_seed`) of the line's bytes < `crc_limit`
//     (crc_limit 0: nothing sampled; >= 2^32: every line);
//   - id: the line's first 11 bytes are one of `ids` (strongly annotated YouTube ids).
// A line that is a hit, sampled or id is a "pick"; picks are reported in line order with their
// byte range in the block. Memory: O(needles + ids + picks).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace avemotion {

// zlib-compatible CRC-32 (polynomial 0xEDB88320): Crc32(b, Crc32(a)) == Crc32(a + b), and
// Crc32(data, v) equals Python's zlib.crc32(data, v).
uint32_t Crc32(std::string_view data, uint32_t value = 0);

struct SegmentPick {
  uint64_t line;   // index of the line in the block (0-based)
  uint64_t begin;  // byte offset of its first character
  uint64_t end;    // byte offset of its '\n'
  uint32_t flags;  // kPickHit | kPickSampled | kPickId
};

inline constexpr uint32_t kPickHit = 1;
inline constexpr uint32_t kPickSampled = 2;
inline constexpr uint32_t kPickId = 4;

struct SegmentBlockScan {
  uint64_t lines = 0;         // number of lines ('\n' count)
  uint64_t comments = 0;      // lines starting with '#'
  int64_t first_invalid = -1;  // first line breaking the row grammar, -1 if none (or not checked)
  std::vector<SegmentPick> picks;
};

class SegmentScanner {
 public:
  // Throws std::invalid_argument for an empty needle or an id that is not 11 bytes long.
  SegmentScanner(std::vector<std::string> needles, std::vector<std::string> ids, uint32_t crc_seed,
                 uint64_t crc_limit, bool check_grammar);

  // Throws std::invalid_argument when `block` is not empty and does not end in '\n'.
  SegmentBlockScan scan(std::string_view block) const;

 private:
  bool contains_needle(std::string_view text) const;

  std::vector<std::string> needles_;
  std::array<bool, 256> first_byte_{};      // first bytes of the needles
  int single_first_ = -1;                   // their common first byte, -1 if they differ
  bool all_long_ = false;                   // every needle has >= 8 bytes: head_filter_ applies
  std::vector<bool> head_filter_ = std::vector<bool>(1 << 16);  // head_hash of each needle's head
  static size_t head_hash(uint64_t head);
  std::vector<uint64_t> head_, head_mask_;  // their first (up to) 8 bytes, little-endian

  std::vector<std::string> id_storage_;
  std::unordered_set<std::string_view> ids_;
  uint32_t crc_seed_;
  uint64_t crc_limit_;
  bool check_grammar_;
};

// True when `line` (no '\n') is blank, a comment or a well-formed segment row (see above).
bool SegmentLineValid(std::string_view line);

}  // namespace avemotion
