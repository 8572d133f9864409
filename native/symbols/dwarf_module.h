// Symbolization of one ELF file through elfutils' libdwfl/libdw, with no
// Node in it. Addresses are the file's own ELF virtual addresses.
//
// libdw answers one question per call by walking DIEs or scanning the symbol
// table; a profile asks it a hundred thousand times. So each module builds,
// lazily, the tables a look-up needs as binary searches: the function
// symbols, the compile units' address ranges, and per compile unit (on
// first touch) its subprogram and inlined-subroutine ranges with parent
// links. Names and paths are interned: a frame holds indices into strings().
#pragma once

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace symbols {

/** Index into DwarfModule::strings(); kNoString when a frame has no file. */
using StringId = uint32_t;
constexpr StringId kNoString = UINT32_MAX;

struct Frame {
  StringId function;
  StringId file = kNoString;
  int line = 0;
  int column = 0;
};

struct CompileUnit {
  std::string name;
  std::vector<std::string> files;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
};

struct FunctionRange {
  std::string name;
  std::string file;
  int line;
  uint64_t low, high;
};

/** What cannot be read, with the code the source-mapping path carries (core/sourceError.ts) and the part of the file at fault. */
class Error : public std::runtime_error {
 public:
  Error(const char* code, const char* field, const std::string& what) : std::runtime_error(what), code(code), field(field) {}
  const char* code;
  const char* field;
};

class DwarfModule {
 public:
  /** Throws Error naming the file and the cause. debug_file may be empty: DWARF is then read from main_file if it has any. */
  DwarfModule(const std::string& main_file, const std::string& debug_file);
  DwarfModule(const DwarfModule&) = delete;
  DwarfModule& operator=(const DwarfModule&) = delete;

  /** Appends the frames of address, innermost first, to out (nothing when nothing is known). */
  void resolve(uint64_t address, std::vector<Frame>& out);
  const std::vector<std::string>& strings() const { return strings_; }

  std::vector<CompileUnit> compile_units();
  std::vector<FunctionRange> functions();

  static const char* libdw_version();

 private:
  struct Symbol {
    uint64_t low, size;
    StringId name;
  };
  // A subprogram or inlined_subroutine DIE with code.
  struct Scope {
    uint32_t parent;  // index in the unit's scopes, kNoParent for a subprogram
    uint32_t ranges_begin, ranges_end;
    StringId function;
    StringId call_file;
    int call_line, call_column;
  };
  static constexpr uint32_t kNoParent = UINT32_MAX;
  struct ScopeRange {
    uint64_t low, high;
    uint32_t scope;
  };
  struct Unit {
    Dwarf_Die die;
    const char* comp_dir;
    bool loaded = false;
    std::vector<Scope> scopes;
    std::vector<std::pair<uint64_t, uint64_t>> scope_ranges;  // per scope, [ranges_begin, ranges_end)
    std::vector<ScopeRange> by_address;                       // sorted by low
  };
  struct UnitRange {
    uint64_t low, high;
    uint32_t unit;
  };

  using SymbolTable = std::vector<Symbol>;
  void load_symbols();
  void add_symbol(SymbolTable& table, uint64_t address, uint64_t size, int type, const char* name);
  static void sort_symbols(SymbolTable& table);
  static const Symbol* symbol_of(const SymbolTable& table, uint64_t address);
  void load_units();
  void load_scopes(Unit& unit);
  void add_scopes(Unit& unit, Dwarf_Die* die, uint32_t parent, Dwarf_Files* files);
  Unit* unit_of(uint64_t address);
  StringId intern(std::string_view s);
  StringId intern_path(const char* comp_dir, const char* path);  // libdw's stable pointers, cached by address
  StringId function_name(Dwarf_Die* die);
  [[noreturn]] void fail(const char* code, const char* field, const std::string& what) const;

  std::string path_;
  std::string debug_path_;
  // Ended by its own destructor: a constructor that throws runs no ~DwarfModule,
  // and a bad file must not leak the session and the file it holds open.
  std::unique_ptr<Dwfl, void (*)(Dwfl*)> dwfl_{nullptr, dwfl_end};
  Dwfl_Module* module_ = nullptr;
  Dwarf* dwarf_ = nullptr;  // null when the module has no DWARF
  Dwarf_Addr bias_ = 0;

  // The main file's own table (.symtab, else .dynsym): the names the binary
  // goes by, which name the outermost frame as llvm-symbolizer and perf do.
  SymbolTable own_symbols_;
  // libdwfl's best table (a stripped file's .symtab from its debug file): for addresses DWARF does not cover.
  SymbolTable all_symbols_;
  bool symbols_loaded_ = false;
  std::optional<std::vector<Unit>> units_;
  std::vector<UnitRange> unit_ranges_;

  std::vector<std::string> strings_;
  std::unordered_map<std::string, StringId> ids_;
  std::unordered_map<const char*, StringId> path_ids_;
};

}  // namespace symbols
