#include "apps/flight/services/maildir.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace troupe::flight {

namespace fs = std::filesystem;

namespace {

error io_error(const fs::path& path, int err) {
  return error{errc::io, path.string() + ": " + std::generic_category().message(err)};
}

// Writes everything or returns the errno.
int write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const auto n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

// Writes all of `message` to the open `fd` of `path`, flushes it to disk and
// closes it; on failure the file is removed.
result<void> write_and_close(int fd, const fs::path& path, std::string_view message, bool sync) {
  int err = write_all(fd, message);
  if (err == 0 && sync && ::fsync(fd) != 0)
    err = errno;
  if (::close(fd) != 0 && err == 0)
    err = errno;
  if (err != 0) {
    ::unlink(path.c_str());
    return io_error(path, err);
  }
  return {};
}

int sync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  const int rc = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return rc;
}

} // namespace

result<void> maildir::create() const {
  for (const char* sub : {"tmp", "new", "cur"}) {
    const auto dir = root_ / sub;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
      return error{errc::io, dir.string() + ": " + ec.message()};
    if (!fs::is_directory(dir, ec))
      return io_error(dir, ENOTDIR);
  }
  return {};
}

const std::string& maildir::host_name() {
  static const std::string name = [] {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0)
      return std::string("localhost");
    std::string out;
    for (const char* p = buf; *p; ++p) {
      if (*p == '/')
        out += "\\057";
      else if (*p == ':')
        out += "\\072";
      else
        out += *p;
    }
    return out;
  }();
  return name;
}

std::string maildir::unique_name() {
  static std::atomic<std::uint64_t> counter{0};
  using namespace std::chrono;
  const auto secs = duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
  return std::to_string(secs) + "." + std::to_string(::getpid()) + "_" + std::to_string(++counter) + "." +
         host_name();
}

result<fs::path> maildir::deliver(std::string_view message) const {
  // O_EXCL makes a name clash an error instead of an overwrite; a clash can
  // only come from another process reusing our pid, so a fresh name fixes it.
  for (int attempt = 0;; ++attempt) {
    const auto name = unique_name();
    const auto tmp = root_ / "tmp" / name;
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      if (errno == EEXIST && attempt < 3)
        continue;
      return io_error(tmp, errno);
    }
    if (auto written = write_and_close(fd, tmp, message, sync_); !written)
      return written.err();
    const auto dest = root_ / "new" / name;
    if (::rename(tmp.c_str(), dest.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      return io_error(dest, err);
    }
    // The message is delivered once it is in new/; failing to make the
    // rename durable must not cause a second delivery on retry.
    if (sync_)
      (void)sync_dir(root_ / "new");
    return dest;
  }
}

result<fs::path> maildir::deliver_as(const std::string& name, std::string_view message) const {
  if (name.empty() || name.find_first_of("/:") != std::string::npos || name == "." || name == "..")
    return error{errc::bad_name, "maildir name '" + name + "': must be non-empty, without '/' or ':'"};
  const auto tmp = root_ / "tmp" / name;
  const auto dest = root_ / "new" / name;
  // The name is ours alone, so a file under it in tmp/ is a crashed attempt.
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return io_error(tmp, errno);
  if (auto written = write_and_close(fd, tmp, message, sync_); !written)
    return written.err();
  // link() refuses to replace, where rename() would silently overwrite.
  if (::link(tmp.c_str(), dest.c_str()) != 0) {
    const int err = errno;
    if (err == EEXIST) {
      ::unlink(tmp.c_str());
      return dest;
    }
    // Some file systems have no hard links; rename is the next best thing.
    if (err != EPERM && err != EOPNOTSUPP && err != ENOSYS) {  // ENOTSUP is EOPNOTSUPP on Linux
      ::unlink(tmp.c_str());
      return io_error(dest, err);
    }
    if (::rename(tmp.c_str(), dest.c_str()) != 0) {
      const int rerr = errno;
      ::unlink(tmp.c_str());
      return io_error(dest, rerr);
    }
  } else {
    ::unlink(tmp.c_str());
  }
  if (sync_)
    (void)sync_dir(root_ / "new");
  return dest;
}

result<std::vector<fs::path>> maildir::messages() const {
  std::vector<fs::path> out;
  for (const char* sub : {"new", "cur"}) {
    const auto dir = root_ / sub;
    std::error_code ec;
    fs::directory_iterator it(dir, ec), end;
    if (ec)
      return error{errc::io, dir.string() + ": " + ec.message()};
    for (; it != end; it.increment(ec)) {
      if (ec)
        return error{errc::io, dir.string() + ": " + ec.message()};
      const auto name = it->path().filename().string();
      if (!name.empty() && name.front() != '.')  // dot files are not messages
        out.push_back(it->path());
    }
    if (ec)
      return error{errc::io, dir.string() + ": " + ec.message()};
  }
  return out;
}

std::string_view maildir::base_name(std::string_view file_name) {
  const auto colon = file_name.find(':');
  return colon == std::string_view::npos ? file_name : file_name.substr(0, colon);
}

} // namespace troupe::flight
