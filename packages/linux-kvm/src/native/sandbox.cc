// The sandbox's system calls: seccomp (through libseccomp, linked statically),
// Landlock, rlimits, credentials, no_new_privs. Mechanism only: which rules,
// rights, limits and ids to apply is decided in TypeScript (src/sandbox/) from
// the policy data, and arrives here as plain numbers.
#include <dlfcn.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/landlock.h>
#include <pwd.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"

namespace hvt {

namespace {

// One seccomp filter under construction; released on every path out.
class FilterContext {
 public:
  explicit FilterContext(Napi::Env env) : ctx_(seccomp_init(SCMP_ACT_KILL_PROCESS)) {
    if (ctx_ == nullptr) ThrowErrno(env, ENOMEM, "seccomp_init");
  }
  FilterContext(const FilterContext&) = delete;
  FilterContext& operator=(const FilterContext&) = delete;
  ~FilterContext() { seccomp_release(ctx_); }
  scmp_filter_ctx get() const { return ctx_; }

 private:
  scmp_filter_ctx ctx_;
};

enum scmp_compare CompareOp(Napi::Env env, const std::string& op) {
  if (op == "eq") return SCMP_CMP_EQ;
  if (op == "ne") return SCMP_CMP_NE;
  if (op == "lt") return SCMP_CMP_LT;
  if (op == "le") return SCMP_CMP_LE;
  if (op == "ge") return SCMP_CMP_GE;
  if (op == "gt") return SCMP_CMP_GT;
  if (op == "masked-eq") return SCMP_CMP_MASKED_EQ;
  throw Napi::TypeError::New(env, "unknown comparison '" + op + "'");
}

uint64_t BigIntProp(const Napi::Object& obj, const char* name) {
  Napi::Value v = obj.Get(name);
  if (!v.IsBigInt()) {
    throw Napi::TypeError::New(obj.Env(), std::string(name) + " must be a bigint");
  }
  bool lossless = false;
  uint64_t r = v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) throw Napi::RangeError::New(obj.Env(), std::string(name) + " must fit in 64 bits");
  return r;
}

// Builds the filter from rules = [{ syscall, args: [{ arg, op, value, mask? }], errno? }]
// (a rule with errno makes the call fail with it instead of allowing it):
// the default action kills the whole process, as does a foreign architecture
// (libseccomp also refuses x32 system calls on x86_64). Every rule is added
// "exact", so libseccomp may not rewrite it behind our back.
void BuildFilter(Napi::Env env, const FilterContext& filter, const Napi::Value& rulesValue) {
  if (!rulesValue.IsArray()) throw Napi::TypeError::New(env, "rules must be an array");
  scmp_filter_ctx ctx = filter.get();
  int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc == 0) rc = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
  if (rc != 0) ThrowErrno(env, -rc, "seccomp_attr_set");
  Napi::Array rules = rulesValue.As<Napi::Array>();
  for (uint32_t i = 0; i < rules.Length(); i++) {
    Napi::Value rv = rules.Get(i);
    if (!rv.IsObject()) throw Napi::TypeError::New(env, "each rule must be an object");
    Napi::Object rule = rv.As<Napi::Object>();
    Napi::Value name = rule.Get("syscall");
    if (!name.IsString()) throw Napi::TypeError::New(env, "rule.syscall must be a string");
    std::string syscallName = name.As<Napi::String>().Utf8Value();
    int nr = seccomp_syscall_resolve_name(syscallName.c_str());
    if (nr == __NR_SCMP_ERROR) {
      throw Napi::Error::New(env, "seccomp: unknown system call '" + syscallName + "'");
    }
    std::vector<struct scmp_arg_cmp> cmps;
    Napi::Value argsValue = rule.Get("args");
    if (argsValue.IsArray()) {
      Napi::Array args = argsValue.As<Napi::Array>();
      for (uint32_t j = 0; j < args.Length(); j++) {
        Napi::Object a = args.Get(j).As<Napi::Object>();
        int argIndex = a.Get("arg").As<Napi::Number>().Int32Value();
        if (argIndex < 0 || argIndex > 5) throw Napi::RangeError::New(env, "arg must be 0..5");
        enum scmp_compare op = CompareOp(env, a.Get("op").As<Napi::String>().Utf8Value());
        struct scmp_arg_cmp cmp = {};
        cmp.arg = static_cast<unsigned>(argIndex);
        cmp.op = op;
        if (op == SCMP_CMP_MASKED_EQ) {
          cmp.datum_a = BigIntProp(a, "mask");
          cmp.datum_b = BigIntProp(a, "value");
        } else {
          cmp.datum_a = BigIntProp(a, "value");
        }
        cmps.push_back(cmp);
      }
    }
    uint32_t action = SCMP_ACT_ALLOW;
    Napi::Value errnoValue = rule.Get("errno");
    if (errnoValue.IsNumber()) {
      int err = errnoValue.As<Napi::Number>().Int32Value();
      if (err <= 0 || err > 4095) throw Napi::RangeError::New(env, "rule.errno must be 1..4095");
      action = SCMP_ACT_ERRNO(static_cast<uint16_t>(err));
    }
    rc = seccomp_rule_add_exact_array(ctx, action, nr, static_cast<unsigned>(cmps.size()),
                                      cmps.data());
    if (rc != 0) {
      Napi::Error e = ErrnoError(env, -rc, "seccomp_rule_add");
      e.Value().Set("rule", Napi::String::New(env, syscallName));
      throw e;
    }
  }
}

// seccompInstall(rules): loads the filter into every thread of the process
// (TSYNC) with no_new_privs set. On a TSYNC failure the kernel names a thread
// that could not be synchronised; libseccomp reports that as an error.
Napi::Value SeccompInstall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FilterContext filter(env);
  BuildFilter(env, filter, info[0]);
  int rc = seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_NNP, 1);
  if (rc == 0) rc = seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_TSYNC, 1);
  if (rc != 0) ThrowErrno(env, -rc, "seccomp_attr_set");
  rc = seccomp_load(filter.get());
  if (rc != 0) ThrowErrno(env, rc < 0 ? -rc : ESRCH, "seccomp_load");
  return env.Undefined();
}

// seccompExport(rules): the BPF program the rules compile to, without loading
// it (for --print-policy). libseccomp writes it to an fd; a memfd keeps it off
// the file system.
Napi::Value SeccompExport(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FilterContext filter(env);
  BuildFilter(env, filter, info[0]);
  OwnedFd memfd(static_cast<int>(::syscall(SYS_memfd_create, "hvt-seccomp-bpf", MFD_CLOEXEC)));
  if (!memfd.valid()) ThrowErrno(env, errno, "memfd_create");
  int rc = seccomp_export_bpf(filter.get(), memfd.get());
  if (rc != 0) ThrowErrno(env, -rc, "seccomp_export_bpf");
  off_t size = ::lseek(memfd.get(), 0, SEEK_END);
  if (size < 0) ThrowErrno(env, errno, "lseek");
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, static_cast<size_t>(size));
  size_t done = 0;
  while (done < static_cast<size_t>(size)) {
    ssize_t n = ::pread(memfd.get(), out.Data() + done, static_cast<size_t>(size) - done,
                        static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ThrowErrno(env, n < 0 ? errno : EIO, "pread");
    done += static_cast<size_t>(n);
  }
  return out;
}

// syscallNumber(name): the number of a system call on this architecture, or
// -1 where it has none (libseccomp's negative pseudo numbers: aarch64 has no
// open, poll or epoll_wait, for instance).
Napi::Value SyscallNumber(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) {
    throw Napi::TypeError::New(info.Env(), "name must be a string");
  }
  int nr = seccomp_syscall_resolve_name(info[0].As<Napi::String>().Utf8Value().c_str());
  return Napi::Number::New(info.Env(), nr < 0 ? -1 : nr);
}

// landlockAbi(): the kernel's Landlock ABI version, or minus the errno that
// says why there is none (ENOSYS: not built in; EOPNOTSUPP: disabled at boot).
Napi::Value LandlockAbi(const Napi::CallbackInfo& info) {
  long v = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return Napi::Number::New(info.Env(), v < 0 ? -errno : v);
}

// The ruleset attribute as of ABI 6; the caller passes how many bytes of it the
// kernel's ABI knows (8, 16 or 24), since a longer struct with unknown fields
// set is refused.
struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

// landlockRestrictSelf({ handledFs, handledNet, scoped, attrSize }, [{ fd, access }]):
// creates the ruleset, grants `access` beneath each directory fd, and enforces
// it on the calling thread (Landlock has no TSYNC; threads created later
// inherit it). Needs no_new_privs (or CAP_SYS_ADMIN).
Napi::Value LandlockRestrictSelf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsArray()) {
    throw Napi::TypeError::New(env, "landlockRestrictSelf(attr, rules)");
  }
  Napi::Object attrObj = info[0].As<Napi::Object>();
  RulesetAttr attr = {};
  attr.handled_access_fs = BigIntProp(attrObj, "handledFs");
  attr.handled_access_net = BigIntProp(attrObj, "handledNet");
  attr.scoped = BigIntProp(attrObj, "scoped");
  uint32_t size = attrObj.Get("attrSize").As<Napi::Number>().Uint32Value();
  if (size != 8 && size != 16 && size != 24) throw Napi::RangeError::New(env, "attrSize");
  OwnedFd ruleset(static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, size, 0)));
  if (!ruleset.valid()) ThrowErrno(env, errno, "landlock_create_ruleset");
  Napi::Array rules = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < rules.Length(); i++) {
    Napi::Object r = rules.Get(i).As<Napi::Object>();
    struct landlock_path_beneath_attr beneath = {};
    beneath.allowed_access = BigIntProp(r, "access");
    beneath.parent_fd = r.Get("fd").As<Napi::Number>().Int32Value();
    if (::syscall(SYS_landlock_add_rule, ruleset.get(), LANDLOCK_RULE_PATH_BENEATH, &beneath, 0) !=
        0) {
      ThrowErrno(env, errno, "landlock_add_rule");
    }
  }
  if (::syscall(SYS_landlock_restrict_self, ruleset.get(), 0) != 0) {
    ThrowErrno(env, errno, "landlock_restrict_self");
  }
  return env.Undefined();
}

Napi::Value SetNoNewPrivs(const Napi::CallbackInfo& info) {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ThrowErrno(info.Env(), errno, "prctl");
  return info.Env().Undefined();
}

// setDumpable(0): no core file of the tender, and other processes of the same
// uid may no longer ptrace it or read its memory through /proc.
Napi::Value SetDumpable(const Napi::CallbackInfo& info) {
  int on = ArgInt32(info, 0, "dumpable");
  if (::prctl(PR_SET_DUMPABLE, on, 0, 0, 0) != 0) ThrowErrno(info.Env(), errno, "prctl");
  return info.Env().Undefined();
}

// setRlimit(resource, limit): soft and hard limit both `limit` (a number or
// bigint; the hard limit can then never be raised again without privilege).
Napi::Value SetRlimit(const Napi::CallbackInfo& info) {
  int resource = ArgInt32(info, 0, "resource");
  uint64_t limit = ArgUint64(info, 1, "limit");
  struct rlimit rl = {static_cast<rlim_t>(limit), static_cast<rlim_t>(limit)};
  if (::setrlimit(resource, &rl) != 0) ThrowErrno(info.Env(), errno, "setrlimit");
  return info.Env().Undefined();
}

Napi::Value GetRlimit(const Napi::CallbackInfo& info) {
  int resource = ArgInt32(info, 0, "resource");
  struct rlimit rl = {};
  if (::getrlimit(resource, &rl) != 0) ThrowErrno(info.Env(), errno, "getrlimit");
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("soft", Napi::BigInt::New(info.Env(), static_cast<uint64_t>(rl.rlim_cur)));
  o.Set("hard", Napi::BigInt::New(info.Env(), static_cast<uint64_t>(rl.rlim_max)));
  return o;
}

// lookupUser(name): { uid, gid, name } from the user database, or null.
Napi::Value LookupUser(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "name");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::vector<char> buf(16384);
  struct passwd pw = {};
  struct passwd* found = nullptr;
  int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0) ThrowErrno(env, rc, "getpwnam_r");
  if (found == nullptr) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("uid", Napi::Number::New(env, pw.pw_uid));
  o.Set("gid", Napi::Number::New(env, pw.pw_gid));
  o.Set("name", Napi::String::New(env, pw.pw_name));
  return o;
}

// lookupGroup(name): the gid of a group, or null.
Napi::Value LookupGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "name");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::vector<char> buf(16384);
  struct group gr = {};
  struct group* found = nullptr;
  int rc = ::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found);
  if (rc != 0) ThrowErrno(env, rc, "getgrnam_r");
  if (found == nullptr) return env.Null();
  return Napi::Number::New(env, gr.gr_gid);
}

// dropIds(uid, gid): supplementary groups cleared, then real, effective and
// saved gid and uid set. glibc applies each of these to every thread of the
// process (its setxid broadcast), which raw system calls would not.
Napi::Value DropIds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t uid = ArgUint64(info, 0, "uid");
  uint64_t gid = ArgUint64(info, 1, "gid");
  if (::setgroups(0, nullptr) != 0) ThrowErrno(env, errno, "setgroups");
  if (::setresgid(static_cast<gid_t>(gid), static_cast<gid_t>(gid), static_cast<gid_t>(gid)) != 0) {
    ThrowErrno(env, errno, "setresgid");
  }
  if (::setresuid(static_cast<uid_t>(uid), static_cast<uid_t>(uid), static_cast<uid_t>(uid)) != 0) {
    ThrowErrno(env, errno, "setresuid");
  }
  return env.Undefined();
}

// ids(): the real, effective and saved uid and gid and the supplementary groups
// of the calling thread, as the kernel has them now.
Napi::Value Ids(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (::getresuid(&ru, &eu, &su) != 0) ThrowErrno(env, errno, "getresuid");
  if (::getresgid(&rg, &eg, &sg) != 0) ThrowErrno(env, errno, "getresgid");
  int n = ::getgroups(0, nullptr);
  if (n < 0) ThrowErrno(env, errno, "getgroups");
  std::vector<gid_t> groups(static_cast<size_t>(n));
  if (n > 0 && ::getgroups(n, groups.data()) < 0) ThrowErrno(env, errno, "getgroups");
  Napi::Object o = Napi::Object::New(env);
  Napi::Array uids = Napi::Array::New(env, 3);
  Napi::Array gids = Napi::Array::New(env, 3);
  uids.Set(0u, ru);
  uids.Set(1u, eu);
  uids.Set(2u, su);
  gids.Set(0u, rg);
  gids.Set(1u, eg);
  gids.Set(2u, sg);
  Napi::Array g = Napi::Array::New(env, groups.size());
  for (size_t i = 0; i < groups.size(); i++) g.Set(static_cast<uint32_t>(i), groups[i]);
  o.Set("uids", uids);
  o.Set("gids", gids);
  o.Set("groups", g);
  return o;
}

// libuvIoUring(): 1 when libuv may submit work through io_uring, 0 when it
// will not, -1 when this libuv cannot say. Node's copy of libuv exports the
// answer (the same function Node consults before process.setuid()); another
// libuv does not, and then only the caller can judge from its version.
Napi::Value LibuvIoUring(const Napi::CallbackInfo& info) {
  using Query = int (*)();
  auto query = reinterpret_cast<Query>(::dlsym(RTLD_DEFAULT, "uv__node_patch_is_using_io_uring"));
  if (query == nullptr) return Napi::Number::New(info.Env(), -1);
  return Napi::Number::New(info.Env(), query() != 0 ? 1 : 0);
}

// personality(): the process's execution domain flags (READ_IMPLIES_EXEC
// would make every readable mapping executable).
Napi::Value Personality(const Napi::CallbackInfo& info) {
  int p = ::personality(0xffffffff);
  if (p < 0) ThrowErrno(info.Env(), errno, "personality");
  return Napi::Number::New(info.Env(), p);
}

// Work for libuv's thread pool that does nothing: queueing it is what counts.
class NoWork : public Napi::AsyncWorker {
 public:
  explicit NoWork(Napi::Env env) : Napi::AsyncWorker(env, "hvt-warm-thread-pool") {}
  void Execute() override {}
};

// warmThreadPool(): starts libuv's thread pool now, while threads may still be
// created: the first work queued creates all of the pool's threads before
// uv_queue_work returns. The worker deletes itself once the loop reports it
// done (never, if the process ends first: nothing is lost then).
Napi::Value WarmThreadPool(const Napi::CallbackInfo& info) {
  (new NoWork(info.Env()))->Queue();
  return info.Env().Undefined();
}

// The remover process (removeFileAtExit). It holds only the read end of a
// pipe from the tender (as fd 0) and the directory (as fd 1), outside any
// sandbox, and waits: a byte from the tender means "keep the file"; end of
// file, however the tender ended (SIGKILL included), means remove it, if the
// name still is the file created (same device and inode). Forked from a
// multi-threaded process: only async-signal-safe calls.
[[noreturn]] void RemoverMain(int channel, int dirfd, const char* name, dev_t dev, ino_t ino,
                              int maxFd) {
  // Its own session: a terminal's hangup or ^C does not reach it.
  ::setsid();
  static const int kIgnored[] = {SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGTERM,
                                 SIGTSTP, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2};
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  for (int sig : kIgnored) ::sigaction(sig, &ignore, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  // Renumber the two fds kept to 0 and 1, then close every other one: the
  // tender's devices, taps or stdout pipe held here would outlive it.
  if (dirfd == 0) dirfd = ::fcntl(dirfd, F_DUPFD, 2);
  if (dirfd < 0) ::_exit(2);
  if (channel != 0 && ::dup2(channel, 0) != 0) ::_exit(2);
  if (dirfd != 1 && ::dup2(dirfd, 1) != 1) ::_exit(2);
  // close_range (Linux 5.9) in one call; older kernels one fd at a time.
  long closed = -1;
#ifdef SYS_close_range
  closed = ::syscall(SYS_close_range, 2u, ~0u, 0u);
#endif
  if (closed != 0) {
    for (int fd = 2; fd <= maxFd; fd++) ::close(fd);
  }

  char byte = 0;
  ssize_t n;
  do {
    n = ::read(0, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) {
    struct stat st {};
    if (::fstatat(1, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == dev &&
        st.st_ino == ino) {
      ::unlinkat(1, name, 0);
    }
  }
  ::_exit(0);
}

// removeFileAtExit(dirFd, name, fileFd): starts the remover for `name` in
// dirFd, the file open at fileFd; returns the write end of its channel
// (close-on-exec). Forked twice, so that init reaps the remover and the
// tender, sandboxed by then, never waits for it.
Napi::Value RemoveFileAtExit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int dirfd = ArgInt32(info, 0, "dirFd");
  if (info.Length() < 2 || !info[1].IsString()) {
    throw Napi::TypeError::New(env, "name must be a string");
  }
  std::string name = info[1].As<Napi::String>().Utf8Value();
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    throw Napi::RangeError::New(env, "name must be a file name, without '/'");
  }
  int filefd = ArgInt32(info, 2, "fileFd");
  struct stat st {};
  if (::fstat(filefd, &st) != 0) ThrowErrno(env, errno, "fstat");
  struct stat dirst {};
  if (::fstat(dirfd, &dirst) != 0) ThrowErrno(env, errno, "fstat");
  if (!S_ISDIR(dirst.st_mode)) ThrowErrno(env, ENOTDIR, "fstat");
  struct rlimit nofile {};
  int maxFd = ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
                      nofile.rlim_cur < (1u << 20)
                  ? static_cast<int>(nofile.rlim_cur)
                  : (1 << 20);
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) ThrowErrno(env, errno, "pipe2");
  pid_t middle = ::fork();
  if (middle < 0) {
    int err = errno;
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    ThrowErrno(env, err, "fork");
  }
  if (middle == 0) {
    pid_t remover = ::fork();
    if (remover != 0) ::_exit(remover < 0 ? 1 : 0);
    RemoverMain(pipefd[0], dirfd, name.c_str(), st.st_dev, st.st_ino, maxFd);
  }
  ::close(pipefd[0]);
  int status = 0;
  pid_t got;
  do {
    got = ::waitpid(middle, &status, 0);
  } while (got < 0 && errno == EINTR);
  if (got != middle || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ::close(pipefd[1]);
    ThrowErrno(env, got != middle ? errno : EAGAIN, "fork");
  }
  return Napi::Number::New(env, pipefd[1]);
}

}  // namespace

void InitSandbox(Napi::Env env, Napi::Object exports) {
  exports.Set("seccompInstall", Napi::Function::New<SeccompInstall>(env));
  exports.Set("seccompExport", Napi::Function::New<SeccompExport>(env));
  exports.Set("syscallNumber", Napi::Function::New<SyscallNumber>(env));
  exports.Set("landlockAbi", Napi::Function::New<LandlockAbi>(env));
  exports.Set("landlockRestrictSelf", Napi::Function::New<LandlockRestrictSelf>(env));
  exports.Set("setNoNewPrivs", Napi::Function::New<SetNoNewPrivs>(env));
  exports.Set("setDumpable", Napi::Function::New<SetDumpable>(env));
  exports.Set("setRlimit", Napi::Function::New<SetRlimit>(env));
  exports.Set("getRlimit", Napi::Function::New<GetRlimit>(env));
  exports.Set("lookupUser", Napi::Function::New<LookupUser>(env));
  exports.Set("lookupGroup", Napi::Function::New<LookupGroup>(env));
  exports.Set("dropIds", Napi::Function::New<DropIds>(env));
  exports.Set("ids", Napi::Function::New<Ids>(env));
  exports.Set("libuvIoUring", Napi::Function::New<LibuvIoUring>(env));
  exports.Set("personality", Napi::Function::New<Personality>(env));
  exports.Set("warmThreadPool", Napi::Function::New<WarmThreadPool>(env));
  exports.Set("removeFileAtExit", Napi::Function::New<RemoveFileAtExit>(env));
  Napi::Object rlimits = Napi::Object::New(env);
  rlimits.Set("NOFILE", Napi::Number::New(env, RLIMIT_NOFILE));
  rlimits.Set("NPROC", Napi::Number::New(env, RLIMIT_NPROC));
  rlimits.Set("CORE", Napi::Number::New(env, RLIMIT_CORE));
  rlimits.Set("FSIZE", Napi::Number::New(env, RLIMIT_FSIZE));
  exports.Set("rlimits", rlimits);
  exports.Set("readImpliesExec", Napi::Number::New(env, READ_IMPLIES_EXEC));
}

}  // namespace hvt
