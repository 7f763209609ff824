// The harness's roofline ceilings: the table CMake generates from native/device_ceilings.json (device_ceilings.inc,
// one {name, match, bytes/s, bf16, fp8, int8} row per card, measured rates), matched against the CUDA device name.
#include <regex>
#include <string>

#include "tools/checks.h"

namespace {
struct CardRow {
  const char* name;
  const char* match;
  double bytes_per_s, bf16, fp8, int8;
};
const CardRow kCards[] = {
#include "device_ceilings.inc"
};
}  // namespace

Ceilings ceilings_for(const std::string& device_name) {
  for (const CardRow& c : kCards)
    if (std::regex_search(device_name, std::regex(c.match, std::regex::ECMAScript | std::regex::icase)))
      return Ceilings{c.name, c.bytes_per_s, c.bf16, c.fp8, c.int8};
  return Ceilings{};
}
