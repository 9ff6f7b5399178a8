#include "cluster/directory_check.hpp"

#include <linux/magic.h>
#include <sys/vfs.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace troupe::cluster {

namespace fs = std::filesystem;

namespace {

// The kernel file systems that hold no data, by statfs's f_type.
const char* kernel_file_system(long type) {
  switch (type) {
    case PROC_SUPER_MAGIC: return "proc";
    case SYSFS_MAGIC: return "sysfs";
    case CGROUP_SUPER_MAGIC: return "cgroup";
    case CGROUP2_SUPER_MAGIC: return "cgroup2";
    case DEBUGFS_MAGIC: return "debugfs";
    case TRACEFS_MAGIC: return "tracefs";
    case SECURITYFS_MAGIC: return "securityfs";
    case SELINUX_MAGIC: return "selinuxfs";
    case SMACK_MAGIC: return "smackfs";
    case PSTOREFS_MAGIC: return "pstore";
    case EFIVARFS_MAGIC: return "efivarfs";
    case BINFMTFS_MAGIC: return "binfmt_misc";
    case DEVPTS_SUPER_MAGIC: return "devpts";
    case NSFS_MAGIC: return "nsfs";
    case BPF_FS_MAGIC: return "bpf";
    default: return nullptr;
  }
}

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

} // namespace

std::optional<std::string> directory_problem(const fs::path& dir) {
  const fs::path target = fs::absolute(dir).lexically_normal();
  // The nearest part of the path that exists.
  fs::path existing = target;
  for (;;) {
    std::error_code ec;
    const auto st = fs::status(existing, ec);
    if (!ec && fs::exists(st)) {
      if (!fs::is_directory(st))
        return existing == target ? quoted(target) + " exists and is not a directory"
                                  : quoted(target) + " cannot be made: " + quoted(existing) + " is not a directory";
      break;
    }
    // ENOTDIR: a part of the path above is a file, found further up.
    if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
      return "cannot look at " + quoted(existing) + ": " + ec.message();
    if (!existing.has_relative_path())  // the root is missing: nothing to make it in
      return quoted(target) + " cannot be made";
    existing = existing.parent_path();
  }
  struct statfs fs_info{};
  if (statfs(existing.c_str(), &fs_info) != 0)
    return "cannot look at " + quoted(existing) + ": " + std::strerror(errno);
  if (const char* kind = kernel_file_system(static_cast<long>(fs_info.f_type)))
    return quoted(target) + " is on " + kind + ", a kernel file system that holds no data";
  return std::nullopt;
}

} // namespace troupe::cluster
