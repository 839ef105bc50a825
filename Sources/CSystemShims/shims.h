#ifndef RELAY_INIT_SYSTEM_SHIMS_H
#define RELAY_INIT_SYSTEM_SHIMS_H

// Process calls Swift cannot reach directly: variadic ones, and glibc ones declared only
// under _GNU_SOURCE or in headers outside Swift's Glibc module. Used by relay-init's
// supervision and the relay's memory trim.

#include <errno.h>
#include <spawn.h>
#include <sys/prctl.h>

#include <signal.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

// glibc's malloc_trim (malloc.h is not part of Swift's Glibc module): returns the free pages
// of every arena to the kernel. 0 where there is no such call.
static inline int relay_malloc_trim(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}

// SIGRTMIN is a function call in glibc, which Swift does not import as a constant.
static inline int relay_sigrtmin(void) {
    return SIGRTMIN;
}

// prctl is variadic: Swift cannot call it.
static inline int relay_prctl(int option, unsigned long value) {
    return prctl(option, value, 0UL, 0UL, 0UL);
}

// glibc declares these only under _GNU_SOURCE, which the Swift Glibc module is not
// built with. They exist from glibc 2.34 (closefrom) and 2.35 (tcsetpgrp); elsewhere
// (musl, older glibc) the wrappers answer ENOSYS and the caller falls back.
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *, int);
#define RELAY_HAVE_ADDCLOSEFROM 1
#endif
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
extern int posix_spawn_file_actions_addtcsetpgrp_np(posix_spawn_file_actions_t *, int);
#define RELAY_HAVE_ADDTCSETPGRP 1
#endif

// In the child, before exec: close every descriptor >= from.
static inline int relay_spawn_add_closefrom(posix_spawn_file_actions_t *actions, int from) {
#ifdef RELAY_HAVE_ADDCLOSEFROM
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
#else
    (void)actions; (void)from;
    return ENOSYS;
#endif
}

// In the child, before exec (all signals still blocked there, so no SIGTTOU):
// make the child's process group the foreground group of the terminal on fd.
static inline int relay_spawn_add_tcsetpgrp(posix_spawn_file_actions_t *actions, int fd) {
#ifdef RELAY_HAVE_ADDTCSETPGRP
    return posix_spawn_file_actions_addtcsetpgrp_np(actions, fd);
#else
    (void)actions; (void)fd;
    return ENOSYS;
#endif
}

#endif
