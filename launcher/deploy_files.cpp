#include "launcher/deploy_files.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <regex>
#include <stdexcept>

#include <yaml-cpp/yaml.h>

#include "launcher/common.hpp"
#include "launcher/deploy.hpp"

namespace troupe::cli {

namespace fs = std::filesystem;

namespace deploy {

namespace {

named_path named(const YAML::Node& n) {
  return {n.Scalar(), n.Mark().line + 1, n.Mark().column + 1};
}

/// `section.NAME.key` for every entry of `section` that has it.
std::map<std::string, named_path> paths_in(const YAML::Node& root, const char* section, const char* key) {
  std::map<std::string, named_path> out;
  const YAML::Node entries = root[section];
  if (!entries.IsMap())
    return out;
  for (const auto& kv : entries)
    if (kv.second.IsMap() && kv.second[key] && kv.second[key].IsScalar())
      out[kv.first.Scalar()] = named(kv.second[key]);
  return out;
}

// YAML 1.1 reads these as booleans or null; 1.2 reads some of them.
bool yaml_word(const std::string& s) {
  static const std::regex words("y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|"
                                "null|Null|NULL|~");
  return std::regex_match(s, words);
}

// Plain only where no YAML reader could take it for anything but this
// string: a name, a path, an image reference.
bool plain_ok(const std::string& s) {
  static const std::regex safe("[A-Za-z/][A-Za-z0-9._/@-]*(:[A-Za-z0-9._/@-]+)?");
  return std::regex_match(s, safe) && !yaml_word(s);
}

// A literal block reads back the same (clip chomping, indentation found
// from the first line) only for text that ends in one line end.
bool literal_ok(const std::string& s) {
  if (s.size() < 2 || s.back() != '\n' || s[s.size() - 2] == '\n' || s.front() == ' ' || s.front() == '\t'
      || s.front() == '\n')
    return false;
  for (const unsigned char c : s)
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
      return false;
  return cluster::valid_utf8(s);
}

// How strings are written: plain where safe and literal blocks where they
// read back the same, or every one double-quoted.
enum class style { readable, quoted };

void emit(YAML::Emitter& e, const nlohmann::ordered_json& j, style st) {
  if (j.is_object()) {
    e << YAML::BeginMap;
    for (const auto& [k, v] : j.items()) {
      e << YAML::Key;
      emit(e, k, st);
      e << YAML::Value;
      emit(e, v, st);
    }
    e << YAML::EndMap;
  } else if (j.is_array()) {
    e << YAML::BeginSeq;
    for (const auto& v : j)
      emit(e, v, st);
    e << YAML::EndSeq;
  } else if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (st == style::readable && plain_ok(s))
      e << s;
    else if (st == style::readable && literal_ok(s))
      e << YAML::Literal << s;
    else
      e << YAML::DoubleQuoted << s;
  } else if (j.is_boolean()) {
    e << j.get<bool>();
  } else if (j.is_number_integer()) {
    e << j.get<long long>();
  } else if (j.is_null()) {
    e << YAML::Null;
  } else {
    e << j.dump();
  }
}

// Whether `n` holds what `j` holds, strings as strings.
bool same(const YAML::Node& n, const nlohmann::ordered_json& j) {
  if (j.is_object()) {
    if (!n.IsMap() || n.size() != j.size())
      return false;
    for (const auto& [k, v] : j.items())
      if (!n[k] || !same(n[k], v))
        return false;
    return true;
  }
  if (j.is_array()) {
    if (!n.IsSequence() || n.size() != j.size())
      return false;
    for (std::size_t i = 0; i < j.size(); ++i)
      if (!same(n[i], j[i]))
        return false;
    return true;
  }
  return n.IsScalar() && (!j.is_string() || n.Scalar() == j.get_ref<const std::string&>());
}

} // namespace

std::string yaml_document(const nlohmann::ordered_json& doc) {
  for (const auto st : {style::readable, style::quoted}) {
    YAML::Emitter e;
    e.SetIndent(2);
    emit(e, doc, st);
    std::string text = e.c_str();
    // What yaml-cpp writes must read back as what was meant.
    try {
      if (same(YAML::Load(text), doc))
        return text + "\n";
    } catch (const YAML::Exception&) {
    }
  }
  throw std::logic_error("yaml-cpp wrote YAML that does not read back the same");
}

fs::path named_path::installed(const fs::path& config) const {
  const fs::path p(text);
  return (p.is_absolute() ? p : config.parent_path() / p).lexically_normal();
}

result<config_paths> paths_of(const cluster::config& cfg) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(cfg.file);
  } catch (const YAML::Exception& e) {
    return error{errc::not_deployable, "cannot read " + cfg.file + " again: " + e.msg};
  }
  config_paths out;
  out.data_dir.text = "data";
  if (root["data-dir"] && root["data-dir"].IsScalar())
    out.data_dir = named(root["data-dir"]);
  out.node_public = paths_in(root, "nodes", "public-key-file");
  out.node_secret = paths_in(root, "nodes", "secret-key-file");
  out.client_public = paths_in(root, "clients", "public-key-file");
  return out;
}

std::string at(const cluster::config& cfg, int line, int column, const std::string& reason) {
  if (line <= 0)
    return cfg.file + ": " + reason;
  return cfg.file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + reason;
}

std::string at(const cluster::config& cfg, const named_path& p, const std::string& reason) {
  return at(cfg, p.line, p.column, reason);
}

std::optional<int> port_of(const std::string& endpoint) {
  static const std::regex tcp("tcp://.*:([0-9]{1,5})");
  std::smatch m;
  if (!std::regex_match(endpoint, m, tcp))
    return std::nullopt;
  return std::stoi(m[1].str());
}

std::string time_span(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0)
    return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

std::string shell_word(const std::string& s) {
  static const std::regex safe("[A-Za-z0-9_@%+=:,./-]+");
  if (std::regex_match(s, safe))
    return s;
  std::string out = "'";
  for (const char c : s)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string yaml_documents(const std::vector<nlohmann::ordered_json>& docs) {
  std::string out;
  for (const auto& d : docs)
    out += "---\n" + yaml_document(d);
  return out;
}

int write_out(const result<file_set>& files, const fs::path& out) {
  auto written = files ? write_files(out, *files) : result<void>(files.err());
  if (written)
    return 0;
  std::fprintf(stderr, "troupe: %s\n", written.err().message.c_str());
  return written.err().code == errc::cannot_write ? 1 : 2;
}

error not_deployable(const std::vector<std::string>& problems) {
  std::string message;
  for (const auto& p : problems)
    message += (message.empty() ? "" : "\n") + p;
  return error{errc::not_deployable, message};
}

} // namespace deploy

fs::path default_installed_config(const std::string& config_file) {
  return fs::path("/etc/troupe") / fs::path(config_file).filename();
}

result<void> write_files(const fs::path& dir, const file_set& files) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec))
      return error{errc::not_deployable, dir.string() + " exists and is not a directory"};
    std::vector<std::string> foreign;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      const auto rel = it->path().lexically_relative(dir).string();
      if (it->is_directory(ec)) {
        // A folder of its own files (a unit's drop-ins) is fine.
        const bool ours = std::any_of(files.begin(), files.end(),
                                      [&](const auto& f) { return f.first.rfind(rel + "/", 0) == 0; });
        if (!ours) {
          foreign.push_back(rel + "/");
          it.disable_recursion_pending();
        }
      } else if (!files.count(rel)) {
        foreign.push_back(rel);
      }
    }
    if (ec)
      return error{errc::cannot_write, "cannot list " + dir.string() + ": " + ec.message()};
    if (!foreign.empty()) {
      std::string names;
      for (const auto& f : foreign)
        names += (names.empty() ? "" : ", ") + f;
      return error{errc::not_deployable,
                   dir.string() + " holds files this command does not write (" + names
                       + "); an engine reading the folder would take them too: remove them or give an empty "
                         "or new folder (nothing was written)"};
    }
  }
  for (const auto& [rel, content] : files) {
    const auto path = dir / rel;
    fs::create_directories(path.parent_path(), ec);
    if (ec)
      return error{errc::cannot_write, "cannot make " + path.parent_path().string() + ": " + ec.message()};
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out.flush())
      return error{errc::cannot_write, "cannot write " + path.string()};
  }
  return {};
}

} // namespace troupe::cli
