// Symbolization of one ELF file through libdwfl/libdw (see dwarf_module.h).
#include "dwarf_module.h"

#include <cxxabi.h>
#include <dwarf.h>
#include <fcntl.h>
#include <gelf.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <variant>

namespace symbols {

namespace {

// libdwfl asks this for the separate debug file; the TypeScript side has
// already found it (build-id, debuglink, user directories), so the lookup
// lives in one place and this only opens what it was given.
int open_given_debuginfo(Dwfl_Module*, void** userdata, const char*, Dwarf_Addr, const char*, const char*, GElf_Word,
                         char** debuginfo_file_name) {
  const auto* debug_path = static_cast<const std::string*>(*userdata);
  if (debug_path->empty()) return -1;
  int fd = open(debug_path->c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) *debuginfo_file_name = strdup(debug_path->c_str());
  return fd;
}

const Dwfl_Callbacks kCallbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = open_given_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = nullptr,
};

std::string demangle(const char* name) {
  if (std::strncmp(name, "_Z", 2) != 0) return name;
  int status = 0;
  char* plain = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0) return name;
  std::string result = plain;
  std::free(plain);
  return result;
}

template <typename Visit>
void for_each_range(Dwarf_Die* die, Visit&& visit) {
  Dwarf_Addr base, low, high;
  for (ptrdiff_t at = 0; (at = dwarf_ranges(die, at, &base, &low, &high)) > 0;)
    if (low < high) visit(low, high);
}

// How deep walk() follows the nesting of DIEs. Compilers nest a few dozen
// levels (glibc 17, Rust's libstd 29); deeper is a damaged or crafted file.
// The bound also caps what such a file costs: a DIE without DW_AT_sibling
// has its sibling found by libdw reading through its whole subtree, so
// every level of nesting adds a pass over everything below it.
constexpr size_t kMaxDieDepth = 256;

// Preorder walk of first and its siblings. The path down to the current DIE
// is kept on the heap: the file chooses how deep DIEs nest, and recursing
// once per level let it overflow our stack. visit(die, context) returns the
// context for the DIE's children, or nullopt not to enter them. Returns
// false, having stopped, where DIEs nest deeper than kMaxDieDepth.
template <typename Context, typename Visit>
bool walk(Dwarf_Die* first, Context context, Visit&& visit) {
  std::vector<std::pair<Dwarf_Die, Context>> path{{*first, context}};
  while (!path.empty()) {
    std::optional<Context> inner = visit(&path.back().first, path.back().second);
    Dwarf_Die child;
    if (inner && dwarf_haschildren(&path.back().first) && dwarf_child(&path.back().first, &child) == 0) {
      if (path.size() == kMaxDieDepth) return false;
      path.emplace_back(child, *inner);
      continue;
    }
    // On to the next sibling: of this DIE, else of the nearest ancestor that has one.
    while (!path.empty() && dwarf_siblingof(&path.back().first, &path.back().first) != 0) path.pop_back();
  }
  return true;
}

std::string nested_too_deep(Dwarf_Die* cu) {
  const char* name = dwarf_diename(cu);
  return "its DWARF nests DIEs more than " + std::to_string(kMaxDieDepth) + " levels deep in compile unit " + (name ? name : "(unnamed)") +
         " (compilers nest a few dozen): the debug info is damaged or crafted. Fix: rebuild the file with -g, or use its distribution's debug package.";
}

std::string joined(const char* comp_dir, const char* path) {
  if (path[0] == '/' || comp_dir == nullptr) return path;
  return std::string(comp_dir) + "/" + path;
}

const char* comp_dir_of(Dwarf_Die* cu) {
  Dwarf_Attribute attr;
  return dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr));
}

}  // namespace

DwarfModule::DwarfModule(const std::string& main_file, const std::string& debug_file)
    : path_(main_file), debug_path_(debug_file) {
  dwfl_.reset(dwfl_begin(&kCallbacks));
  if (dwfl_ == nullptr) fail("symbolizer", "", dwfl_errmsg(-1));
  dwfl_report_begin(dwfl_.get());
  // Bias 0: the module's addresses are the file's own vaddrs, for ET_EXEC and ET_DYN alike.
  module_ = dwfl_report_elf(dwfl_.get(), main_file.c_str(), main_file.c_str(), -1, 0, true);
  if (module_ == nullptr) fail("bad-elf", "", dwfl_errmsg(-1));
  dwfl_report_end(dwfl_.get(), nullptr, nullptr);
  void** userdata;
  dwfl_module_info(module_, &userdata, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
  *userdata = &debug_path_;
  dwarf_ = dwfl_module_getdwarf(module_, &bias_);
  if (dwarf_ == nullptr && !debug_path_.empty())
    fail("no-debug-info", "", "its debug file " + debug_path_ + " gives no DWARF (" + dwfl_errmsg(-1) + "); is it the debug file of this build?");
}

const char* DwarfModule::libdw_version() { return dwfl_version(nullptr); }

void DwarfModule::fail(const char* code, const char* field, const std::string& what) const { throw Error(code, field, path_ + ": " + what); }

StringId DwarfModule::intern(std::string_view s) {
  auto [at, added] = ids_.try_emplace(std::string(s), static_cast<StringId>(strings_.size()));
  if (added) strings_.emplace_back(s);
  return at->second;
}

StringId DwarfModule::intern_path(const char* comp_dir, const char* path) {
  auto [at, added] = path_ids_.try_emplace(path, kNoString);
  if (added) at->second = intern(joined(comp_dir, path));
  return at->second;
}

StringId DwarfModule::function_name(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  const char* linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
  if (linkage == nullptr) linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
  if (linkage != nullptr) return intern(demangle(linkage));
  const char* name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
  return name ? intern(name) : kNoString;
}

void DwarfModule::add_symbol(SymbolTable& table, uint64_t address, uint64_t size, int type, const char* name) {
  if (name != nullptr && *name != '\0' && (type == STT_FUNC || type == STT_GNU_IFUNC)) table.push_back({address, size, intern(demangle(name))});
}

void DwarfModule::sort_symbols(SymbolTable& table) {
  // Of the aliases at one address keep the largest, and of equals the last in
  // table order: the one llvm-symbolizer shows (glibc's weak public alias,
  // e.g. vfork over __vfork), so both name a function alike.
  std::stable_sort(table.begin(), table.end(), [](const Symbol& a, const Symbol& b) { return a.low != b.low ? a.low < b.low : a.size < b.size; });
  auto kept = table.begin();
  for (auto at = table.begin(); at != table.end(); ++at)
    if (std::next(at) == table.end() || std::next(at)->low != at->low) *kept++ = *at;
  table.erase(kept, table.end());
}

void DwarfModule::load_symbols() {
  if (symbols_loaded_) return;
  symbols_loaded_ = true;
  GElf_Addr bias;
  Elf* elf = dwfl_module_getelf(module_, &bias);
  for (GElf_Word wanted : {SHT_SYMTAB, SHT_DYNSYM}) {
    for (Elf_Scn* section = nullptr; elf && (section = elf_nextscn(elf, section)) != nullptr;) {
      GElf_Shdr header;
      Elf_Data* data;
      if (gelf_getshdr(section, &header) == nullptr || header.sh_type != wanted || header.sh_entsize == 0 ||
          (data = elf_getdata(section, nullptr)) == nullptr)
        continue;
      for (size_t i = 1; i < header.sh_size / header.sh_entsize; i++) {
        GElf_Sym sym;
        if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr || sym.st_shndx == SHN_UNDEF) continue;
        add_symbol(own_symbols_, sym.st_value + bias, sym.st_size, GELF_ST_TYPE(sym.st_info), elf_strptr(elf, header.sh_link, sym.st_name));
      }
    }
    if (!own_symbols_.empty()) break;
  }
  int count = dwfl_module_getsymtab(module_);
  for (int i = 1; i < count; i++) {
    GElf_Sym sym;
    GElf_Addr address;
    GElf_Word section;
    const char* name = dwfl_module_getsym_info(module_, i, &sym, &address, &section, nullptr, nullptr);
    if (section != SHN_UNDEF) add_symbol(all_symbols_, address, sym.st_size, GELF_ST_TYPE(sym.st_info), name);
  }
  sort_symbols(own_symbols_);
  sort_symbols(all_symbols_);
}

const DwarfModule::Symbol* DwarfModule::symbol_of(const SymbolTable& table, uint64_t address) {
  auto after = std::upper_bound(table.begin(), table.end(), address, [](uint64_t a, const Symbol& s) { return a < s.low; });
  if (after == table.begin()) return nullptr;
  const Symbol& s = *std::prev(after);
  // A symbol without a size (hand-written assembly) reaches to the next one.
  if (s.size != 0 && address >= s.low + s.size) return nullptr;
  return &s;
}

void DwarfModule::load_units() {
  if (units_) return;
  units_.emplace();
  if (dwarf_ == nullptr) return;
  Dwarf_CU* cu = nullptr;
  Dwarf_Die cudie, subdie;
  Dwarf_Half version;
  uint8_t unit_type;
  while (dwarf_get_units(dwarf_, cu, &cu, &version, &unit_type, &cudie, &subdie) == 0) {
    if (unit_type != DW_UT_compile) continue;
    auto index = static_cast<uint32_t>(units_->size());
    Unit& unit = units_->emplace_back();
    unit.die = cudie;
    unit.comp_dir = comp_dir_of(&cudie);
    for_each_range(&cudie, [&](uint64_t low, uint64_t high) { unit_ranges_.push_back({low, high, index}); });
  }
  std::sort(unit_ranges_.begin(), unit_ranges_.end(), [](const UnitRange& a, const UnitRange& b) { return a.low < b.low; });
}

DwarfModule::Unit* DwarfModule::unit_of(uint64_t address) {
  load_units();
  auto after = std::upper_bound(unit_ranges_.begin(), unit_ranges_.end(), address,
                                [](uint64_t a, const UnitRange& r) { return a < r.low; });
  if (after == unit_ranges_.begin() || address >= std::prev(after)->high) return nullptr;
  Unit& unit = (*units_)[std::prev(after)->unit];
  load_scopes(unit);
  return &unit;
}

void DwarfModule::load_scopes(Unit& unit) {
  if (unit.loaded) return;
  // A unit refused for its nesting stays unloaded, and is refused again on its next look-up.
  unit.scopes.clear();
  unit.scope_ranges.clear();
  Dwarf_Files* files = nullptr;
  size_t file_count = 0;
  dwarf_getsrcfiles(&unit.die, &files, &file_count);
  Dwarf_Die child;
  if (dwarf_child(&unit.die, &child) == 0) add_scopes(unit, &child, kNoParent, files);
  for (uint32_t i = 0; i < unit.scopes.size(); i++)
    for (uint32_t r = unit.scopes[i].ranges_begin; r < unit.scopes[i].ranges_end; r++)
      unit.by_address.push_back({unit.scope_ranges[r].first, unit.scope_ranges[r].second, i});
  // At one low address the enclosing scope comes first, so the last entry at or below an address is the innermost.
  std::sort(unit.by_address.begin(), unit.by_address.end(), [](const ScopeRange& a, const ScopeRange& b) {
    if (a.low != b.low) return a.low < b.low;
    if (a.high != b.high) return a.high > b.high;
    return a.scope < b.scope;
  });
  unit.loaded = true;
}

void DwarfModule::add_scopes(Unit& unit, Dwarf_Die* first, uint32_t parent, Dwarf_Files* files) {
  const bool whole = walk(first, parent, [&](Dwarf_Die* die, uint32_t enclosing) -> std::optional<uint32_t> {
    int tag = dwarf_tag(die);
    if (tag != DW_TAG_subprogram && tag != DW_TAG_inlined_subroutine) return enclosing;
    auto ranges_begin = static_cast<uint32_t>(unit.scope_ranges.size());
    for_each_range(die, [&](uint64_t low, uint64_t high) { unit.scope_ranges.emplace_back(low, high); });
    auto ranges_end = static_cast<uint32_t>(unit.scope_ranges.size());
    if (ranges_end == ranges_begin) return enclosing;
    Scope scope{.parent = tag == DW_TAG_subprogram ? kNoParent : enclosing,
                .ranges_begin = ranges_begin,
                .ranges_end = ranges_end,
                .function = function_name(die),
                .call_file = kNoString,
                .call_line = 0,
                .call_column = 0};
    Dwarf_Attribute attr;
    Dwarf_Word value;
    const char* call_file;
    if (files && dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &value) == 0 &&
        (call_file = dwarf_filesrc(files, value, nullptr, nullptr)) != nullptr)
      scope.call_file = intern_path(unit.comp_dir, call_file);
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &value) == 0) scope.call_line = static_cast<int>(value);
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_column, &attr), &value) == 0) scope.call_column = static_cast<int>(value);
    unit.scopes.push_back(scope);
    return static_cast<uint32_t>(unit.scopes.size() - 1);
  });
  if (!whole) fail("bad-elf", "DWARF", nested_too_deep(&unit.die));
}

void DwarfModule::resolve(uint64_t address, std::vector<Frame>& out) {
  size_t first = out.size();
  Unit* unit = dwarf_ ? unit_of(address - bias_) : nullptr;
  if (unit != nullptr) {
    uint64_t at = address - bias_;
    Frame innermost{.function = kNoString};
    if (Dwarf_Line* line = dwarf_getsrc_die(&unit->die, at)) {
      int line_number = 0, column = 0;
      dwarf_lineno(line, &line_number);
      dwarf_linecol(line, &column);
      const char* file = dwarf_linesrc(line, nullptr, nullptr);
      if (file && line_number > 0) innermost = {.function = kNoString, .file = intern_path(unit->comp_dir, file), .line = line_number, .column = column};
    }
    auto after = std::upper_bound(unit->by_address.begin(), unit->by_address.end(), at,
                                  [](uint64_t a, const ScopeRange& r) { return a < r.low; });
    auto contains = [&](const Scope& s) {
      for (uint32_t r = s.ranges_begin; r < s.ranges_end; r++)
        if (at >= unit->scope_ranges[r].first && at < unit->scope_ranges[r].second) return true;
      return false;
    };
    uint32_t scope = after == unit->by_address.begin() ? kNoParent : std::prev(after)->scope;
    while (scope != kNoParent && !contains(unit->scopes[scope])) scope = unit->scopes[scope].parent;
    Frame frame = innermost;
    for (; scope != kNoParent; scope = unit->scopes[scope].parent) {
      const Scope& s = unit->scopes[scope];
      frame.function = s.function;
      out.push_back(frame);
      frame = {.function = kNoString, .file = s.call_file, .line = s.call_line, .column = s.call_column};
    }
    if (out.size() == first && innermost.file != kNoString) out.push_back(innermost);
  }
  load_symbols();
  const Symbol* own = symbol_of(own_symbols_, address);
  const Symbol* any = own ? own : symbol_of(all_symbols_, address);
  if (out.size() == first) {
    if (any == nullptr) return;
    out.push_back({.function = any->name});
  } else if (own != nullptr || out.back().function == kNoString) {
    out.back().function = any ? any->name : intern("");
  }
  // An inlined_subroutine whose origin has no name (GCC gives one always) still keeps its place in the chain.
  for (size_t i = first; i < out.size(); i++)
    if (out[i].function == kNoString) out[i].function = intern("");
}

std::vector<CompileUnit> DwarfModule::compile_units() {
  load_units();
  std::vector<CompileUnit> result;
  for (Unit& unit : *units_) {
    CompileUnit cu;
    const char* name = dwarf_diename(&unit.die);
    cu.name = name ? name : "";
    Dwarf_Files* files;
    size_t count;
    if (dwarf_getsrcfiles(&unit.die, &files, &count) == 0) {
      for (size_t i = 0; i < count; i++) {
        const char* file = dwarf_filesrc(files, i, nullptr, nullptr);
        // libdw names the unused entry 0 of DWARF 4 tables "???".
        if (file == nullptr || std::strcmp(file, "???") == 0) continue;
        std::string path = joined(unit.comp_dir, file);
        if (std::find(cu.files.begin(), cu.files.end(), path) == cu.files.end()) cu.files.push_back(std::move(path));
      }
    }
    for_each_range(&unit.die, [&](uint64_t low, uint64_t high) { cu.ranges.emplace_back(low + bias_, high + bias_); });
    result.push_back(std::move(cu));
  }
  return result;
}

std::vector<FunctionRange> DwarfModule::functions() {
  load_units();
  std::vector<FunctionRange> result;
  for (Unit& unit : *units_) {
    Dwarf_Die child;
    if (dwarf_child(&unit.die, &child) != 0) continue;
    const bool whole = walk(&child, std::monostate{}, [&](Dwarf_Die* die, std::monostate) -> std::optional<std::monostate> {
      if (dwarf_tag(die) != DW_TAG_subprogram) return std::monostate{};
      StringId name = function_name(die);
      const char* file = dwarf_decl_file(die);
      int line = 0;
      dwarf_decl_line(die, &line);
      if (name != kNoString && file != nullptr)
        for_each_range(die, [&](uint64_t low, uint64_t high) {
          result.push_back({strings_[name], joined(unit.comp_dir, file), line, low + bias_, high + bias_});
        });
      // Nested subprograms (GNU C nested functions, C++ local classes' methods) have code too.
      return std::monostate{};
    });
    if (!whole) fail("bad-elf", "DWARF", nested_too_deep(&unit.die));
  }
  return result;
}

}  // namespace symbols
