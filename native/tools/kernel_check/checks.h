// kernel-check's checks, each printing its verdicts (harness.h).
#pragma once

namespace sideband::kernel_check {

// The status of a target that ran before attach, and the real records it
// makes afterwards, through the engine; `kernel` says the ioctl must be the
// path taken (else /proc). Its records must say what /proc says.
void check_capture(bool kernel);

// The ioctl itself, on events of our own: what it writes, and its errors.
void check_raw_ioctl();

// A burst larger than the ring: LOST records, and what is there parses.
void check_overflow();

}  // namespace sideband::kernel_check
