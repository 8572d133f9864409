// The one libstdc++ function GCC 12's headers call that GCC 8's libstdc++
// (GLIBCXX_3.4.25, VS Code's floor) lacks, defined here so the addons do
// not import it. native/addon/exports.map keeps it local to each addon.
#include <new>

namespace std {

// Called by std::allocator when an array's size overflows: GLIBCXX_3.4.29
// in libstdc++ itself. Linking libstdc++ statically instead would bring in
// glibc 2.32-2.36 symbols (__libc_single_threaded, arc4random).
void __throw_bad_array_new_length() { throw bad_array_new_length(); }

}  // namespace std
