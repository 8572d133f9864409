#ifndef DEMO_CHECKSUM_H
#define DEMO_CHECKSUM_H
#include <stddef.h>
#include <stdint.h>

uint32_t demo_checksum(const uint8_t *bytes, size_t length);

#endif
