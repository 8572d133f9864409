// The demo addon's work: an Adler-32 checksum, in plain C with no Node in
// sight, so its functions are what a hover in this file shows. The inline
// helper is there so a resolved address shows an inlined frame too.
#include "checksum.h"

enum { ADLER_MOD = 65521 };

static inline __attribute__((always_inline)) uint32_t adler_fold(uint32_t sum) {
  return sum % ADLER_MOD;
}

uint32_t demo_checksum(const uint8_t *bytes, size_t length) {
  uint32_t a = 1, b = 0;
  for (size_t i = 0; i < length; i++) {
    a = adler_fold(a + bytes[i]);
    b = adler_fold(b + a);
  }
  return (b << 16) | a;
}
