#ifndef RELAY_INIT_CCURL_SHIM_H
#define RELAY_INIT_CCURL_SHIM_H

#include <curl/curl.h>

// curl_easy_setopt and curl_easy_getinfo are variadic: Swift cannot call them.
// These typed wrappers are the only entry points the Swift side uses.

static inline CURLcode relay_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode relay_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode relay_curl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode relay_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

typedef size_t (*relay_curl_write_callback)(char *data, size_t size, size_t count, void *context);

static inline CURLcode relay_curl_setopt_write_function(CURL *handle, relay_curl_write_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, callback);
}

static inline CURLcode relay_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

// ---------------------------------------------------------------------------
// Process helpers for relay-init's supervisor. Not curl: they live here because
// CCurl is the only C module the Orchestrator target has. They would move to a
// module of their own (e.g. CSystemShims) if the package grows one.
// ---------------------------------------------------------------------------

#include <errno.h>
#include <spawn.h>
#include <sys/prctl.h>

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
