// Errors the core reports. Every user-facing Error names its cause and its
// fix in one message, and carries a stable code that front ends can match.
#pragma once

#include <cstring>
#include <stdexcept>
#include <string>

namespace sideband {

class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message) : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

// A failed system call with its errno, before the caller has explained it.
class SystemError : public std::runtime_error {
 public:
  SystemError(const std::string& call, int err)
      : std::runtime_error(call + " failed: " + strerror(err)), err_(err) {}
  int err() const { return err_; }

 private:
  int err_;
};

}  // namespace sideband
