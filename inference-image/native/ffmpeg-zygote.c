// ffmpeg as a fork server ("zygote"), loaded into Debian's ffmpeg with LD_PRELOAD.
//
// Why: Debian's ffmpeg links 215 shared libraries. Starting it costs ~80 ms of CPU per clip, 69 % of it the
// dynamic linker binding symbols (perf record: do_lookup_x) — on a CPU replica that is taken from onnxruntime's
// threads while the denoiser runs. Linked once, then fork()ed per clip, the start costs a fork of a ~20 MB
// process instead, the same at every load.
//
// How: this library wraps __libc_start_main, so it runs after the dynamic linker and every library constructor,
// before ffmpeg's main(). With T2V_ZYGOTE_SERVE=1 in the environment the process serves instead of running
// main(): it reads requests on stdin, forks a child per request that calls ffmpeg's real main() with the
// request's arguments, and reports on stdout. Without that variable ffmpeg runs as it always does.
//
// Protocol (stdin → zygote; every number decimal ASCII):
//   "S <id> <nbytes>\n" then nbytes of arguments, each NUL-terminated (argv[1..]; argv[0] is "ffmpeg")
//   "K <id>\n"          SIGKILL that child, if it has not been reaped yet
// Reports (zygote → stdout):
//   "P <id> <pid>\n"                               started
//   "E <id> <errno>\n"                             not started: table full (EAGAIN), memfd or fork failed
//   "X <id> <code> <signal> <nbytes>\n" + bytes    ended: exit code (-1 if signalled), signal number (0 if
//                                                  not), then the last bytes of its stderr (at most 4096)
// A child's stdin and stdout are /dev/null and its stderr a memfd the zygote reads at the exit. On EOF of stdin
// (the runtime went, however it went) the zygote SIGKILLs its children and exits; a child dies with the zygote
// (PR_SET_PDEATHSIG). Preloaded into a program without libavformat it exits 121. Build: gcc -O2 -shared -fPIC -o libt2v-ffmpeg-zygote.so ffmpeg-zygote.c -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define STDERR_KEEP 4096
#define MAX_CHILDREN 64
#define MAX_REQUEST (1 << 20)

typedef int (*main_fn)(int, char **, char **);
typedef int (*start_fn)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *);

static main_fn ffmpeg_main;

struct child {
  long id;
  pid_t pid;
  int err_fd;
};
static struct child children[MAX_CHILDREN];

static void write_all(int fd, const char *buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      _exit(3); // the runtime's end of the pipe is gone: nothing to serve
    }
    buf += w;
    n -= (size_t)w;
  }
}

static void report(const char *fmt, long a, long b, long c, long d) {
  char line[128];
  int n = snprintf(line, sizeof line, fmt, a, b, c, d);
  write_all(1, line, (size_t)n);
}

static void kill_all(void) {
  for (int i = 0; i < MAX_CHILDREN; i++)
    if (children[i].pid > 0) kill(children[i].pid, SIGKILL);
}

/** Buffered stdin: returns 0 at EOF. */
static char inbuf[MAX_REQUEST + 256];
static size_t inlen;

static int fill(void) {
  if (inlen >= sizeof inbuf) return -1;
  ssize_t r = read(0, inbuf + inlen, sizeof inbuf - inlen);
  if (r < 0) return errno == EINTR || errno == EAGAIN ? 1 : 0;
  inlen += (size_t)r;
  return r > 0;
}

static void start_child(long id, char *args, size_t nbytes, int sigfd, sigset_t *old_mask) {
  int slot = -1;
  for (int i = 0; i < MAX_CHILDREN && slot < 0; i++)
    if (children[i].pid == 0) slot = i;
  int err_fd = slot < 0 ? -1 : memfd_create("ffmpeg-stderr", MFD_CLOEXEC);
  if (err_fd < 0) {
    report("E %ld %ld\n", id, slot < 0 ? EAGAIN : errno, 0, 0);
    return;
  }
  int argc = 1;
  for (size_t i = 0; i < nbytes; i++)
    if (args[i] == '\0') argc++;
  char **argv = calloc((size_t)argc + 1, sizeof *argv);
  if (!argv) {
    close(err_fd);
    report("E %ld %ld\n", id, ENOMEM, 0, 0);
    return;
  }
  argv[0] = "ffmpeg";
  for (size_t i = 0, a = 1; i < nbytes && a < (size_t)argc; a++) {
    argv[a] = args + i;
    i += strlen(args + i) + 1;
  }
  pid_t zygote = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != zygote) _exit(125); // the zygote died before the line above: nobody would reap or kill this one
    // No exec follows, so MFD_CLOEXEC does not apply: without this every clip held the stderr of every other
    // clip running when it was forked (writable, and keeping ended clips' memfds alive).
    for (int i = 0; i < MAX_CHILDREN; i++)
      if (children[i].pid > 0) close(children[i].err_fd);
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(err_fd, 2);
    close(devnull);
    close(err_fd);
    close(sigfd);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    sigprocmask(SIG_SETMASK, old_mask, NULL);
    exit(ffmpeg_main(argc, argv, environ));
  }
  free(argv);
  if (pid < 0) {
    close(err_fd);
    report("E %ld %ld\n", id, errno, 0, 0);
    return;
  }
  children[slot] = (struct child){ .id = id, .pid = pid, .err_fd = err_fd };
  report("P %ld %ld\n", id, pid, 0, 0);
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (int i = 0; i < MAX_CHILDREN; i++) {
      if (children[i].pid != pid) continue;
      char tail[STDERR_KEEP];
      off_t size = lseek(children[i].err_fd, 0, SEEK_END);
      off_t from = size > STDERR_KEEP ? size - STDERR_KEEP : 0;
      ssize_t n = size > 0 ? pread(children[i].err_fd, tail, (size_t)(size - from), from) : 0;
      if (n < 0) n = 0;
      close(children[i].err_fd);
      long code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      long sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      report("X %ld %ld %ld %ld\n", children[i].id, code, sig, (long)n);
      write_all(1, tail, (size_t)n);
      children[i] = (struct child){ 0 };
      break;
    }
  }
}

/** Handles the complete requests in inbuf; keeps a partial one. Returns -1 on a malformed request. */
static int handle_requests(int sigfd, sigset_t *old_mask) {
  size_t at = 0;
  for (;;) {
    char *nl = memchr(inbuf + at, '\n', inlen - at);
    if (!nl) break;
    char kind;
    long id;
    size_t nbytes = 0;
    *nl = '\0';
    if (sscanf(inbuf + at, "%c %ld %zu", &kind, &id, &nbytes) < 2) return -1;
    size_t body = (size_t)(nl - inbuf) + 1;
    if (kind == 'K') {
      for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i].pid > 0 && children[i].id == id) kill(children[i].pid, SIGKILL);
      at = body;
    } else if (kind == 'S') {
      if (nbytes > MAX_REQUEST) return -1;
      if (inlen - body < nbytes) {
        *nl = '\n'; // not all here yet: read again
        break;
      }
      start_child(id, inbuf + body, nbytes, sigfd, old_mask);
      at = body + nbytes;
    } else {
      return -1;
    }
  }
  memmove(inbuf, inbuf + at, inlen - at);
  inlen -= at;
  return 0;
}

static int serve(void) {
  // Children run ffmpeg's main() in this process image; nothing they would start inherits the serving mode.
  unsetenv("T2V_ZYGOTE_SERVE");
  unsetenv("LD_PRELOAD");
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);
  sigset_t mask, old_mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, &old_mask);
  int sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
  if (sigfd < 0) return 2;
  report("R %ld\n", (long)getpid(), 0, 0, 0); // ready
  for (;;) {
    struct pollfd fds[2] = { { .fd = 0, .events = POLLIN }, { .fd = sigfd, .events = POLLIN } };
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents & POLLIN) {
      struct signalfd_siginfo info; // SIGCHLDs coalesce: one read, then reap every child that ended
      if (read(sigfd, &info, sizeof info) < 0 && errno != EINTR && errno != EAGAIN) break;
      reap();
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      int r = fill();
      if (r <= 0 || handle_requests(sigfd, &old_mask) < 0) break;
    }
  }
  kill_all();
  return 0;
}

static int zygote_main(int argc, char **argv, char **envp) {
  const char *mode = getenv("T2V_ZYGOTE_SERVE");
  if (mode && strcmp(mode, "1") == 0) {
    // Preloaded into something that is not ffmpeg (no libavformat linked): refuse rather than guess.
    if (!dlsym(RTLD_DEFAULT, "avformat_version")) {
      fputs("t2v ffmpeg zygote: this program is not ffmpeg (no libavformat)\n", stderr);
      return 121;
    }
    return serve();
  }
  return ffmpeg_main(argc, argv, envp);
}

int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void), void (*rtld_fini)(void),
                      void *stack_end) {
  ffmpeg_main = main;
  start_fn next = (start_fn)dlsym(RTLD_NEXT, "__libc_start_main");
  return next(zygote_main, argc, argv, init, fini, rtld_fini, stack_end);
}
